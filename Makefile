# Job og Familie: see README.md.
GO        ?= go
MODULES   := ./events/... ./schemas/... ./services/...
BIN       := bin
BINARIES  := sof bif buf suf projector audit standalone
TESTFLAGS ?= -race -shuffle=on -count=1 -timeout 30m

.PHONY: all build test vet fmt catalog run bench clean

all: build

build:
	@mkdir -p $(BIN)
	@for b in $(BINARIES); do \
		if [ -d services/cmd/$$b ]; then $(GO) build -o $(BIN)/$$b ./services/cmd/$$b || exit 1; fi; \
	done
	$(GO) build $(MODULES)

test:
	$(GO) vet $(MODULES)
	$(GO) test $(TESTFLAGS) $(MODULES)

vet:
	$(GO) vet $(MODULES)

fmt:
	gofmt -l -w events schemas services

# catalog regenerates docs/catalog.md from the catalog and the schemas.
catalog:
	$(GO) run ./events/cmd/catalogdoc > docs/catalog.md.tmp && mv docs/catalog.md.tmp docs/catalog.md

run: build
	$(BIN)/standalone

clean:
	rm -rf $(BIN)

# bench measures raw JetStream and SQLite limits and the services against
# them, in one run, and prints the figures (see docs/PERFORMANCE.md).
bench:
	$(GO) run ./services/cmd/jfbench $(BENCHFLAGS)

# demo loads the demo data (50 synthetic families over 2023–2024) into a
# running system through its ingest API, e.g. one started by `make run`.
# DEMOFLAGS: -url, -seed, -families, or -sof-url … per department.
.PHONY: demo
demo:
	$(GO) run ./services/cmd/demo $(DEMOFLAGS)
