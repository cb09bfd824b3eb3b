# Job og Familie: see README.md.
GO        ?= go
MODULES   := ./events/... ./schemas/... ./services/...
BIN       := bin
BINARIES  := sof bif buf suf projector audit standalone
TESTFLAGS ?= -race -shuffle=on -count=1 -timeout 30m

.PHONY: all build test vet fmt catalog run bench clean loadtest

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

# catalog regenerates what is made from the catalog's data (the schemas'
# "x-jf" annotations and events/departments.json): the Go payload types,
# catalog table, titles and department constants, and docs/catalog.md.
catalog:
	cd events && $(GO) generate ./...

run: build
	$(BIN)/standalone

clean:
	rm -rf $(BIN)

# bench measures raw JetStream and SQLite limits and the services against
# them, each in one run, and prints the figures (see docs/PERFORMANCE.md):
# ingest on a stream of 1M events, then the projector (catch-up, queries,
# read-your-writes, RSS) as its own process, bin/projector; the cost of
# encrypting personal fields, on against off, at ingest and in the
# projector; then the evaluation of 10,000 families over 10M events in
# such a process.
bench: build
	$(GO) run ./services/cmd/jfbench $(BENCHFLAGS)
	$(GO) run ./services/cmd/jfbench projector -projector $(BIN)/projector $(PROJECTOR_BENCHFLAGS)
	$(GO) run ./services/cmd/jfbench encryption -projector $(BIN)/projector $(ENCRYPTION_BENCHFLAGS)
	$(GO) run ./services/cmd/jfbench evaluation -projector $(BIN)/projector $(EVALUATION_BENCHFLAGS)

# bench-compare runs the ingest phase of BASE's build and of this work tree
# alternately (BENCH_ROUNDS times each) and prints new ÷ old throughput.
BASE ?= $(shell git merge-base HEAD main)
BENCH_ROUNDS ?= 3
.PHONY: bench-compare
bench-compare:
	sh services/cmd/jfbench/compare-builds.sh $(BASE) $(BENCH_ROUNDS) $(BENCHFLAGS)

# demo loads the demo data (50 synthetic families over 2023–2024) into a
# running system through its ingest API, e.g. one started by `make run`,
# then erases one family whose course ended as dev-dpo (docs/PRIVACY.md).
# DEMOFLAGS: -url, -seed, -families, -dpo-token (empty: erase none), or
# -sof-url … per department.
.PHONY: demo
demo:
	$(GO) run ./services/cmd/demo $(DEMOFLAGS)

# screenshots starts a standalone with the demo data (50 families) and
# writes a PNG of each page of the web app into docs/screenshots with
# headless Chromium (apt-get install chromium).
.PHONY: screenshots
screenshots:
	cd services && JF_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run '^TestScreenshots$$' ./internal/webapp/

# deploy-check checks deploy/ as far as this machine allows: the cluster,
# permission and consistency tests of services/internal/deploytest (also
# part of make test), the image's program list against BINARIES, the
# systemd units with systemd-analyze verify and security (skipped without
# it), and compose.yaml with compose-go (the loader of docker compose v2)
# and, if its plugin is installed, docker compose config. Building and
# running the image needs a Docker engine and is not done here.
.PHONY: deploy-check
deploy-check: build
	cd services && $(GO) test -count=1 ./internal/deploytest/
	@grep -qx 'ARG BINARIES="$(BINARIES)"' deploy/container/Containerfile || \
		{ echo "deploy-check: ARG BINARIES of deploy/container/Containerfile is not the Makefile's BINARIES ($(BINARIES))"; exit 1; }
	@echo "deploy-check: the image's programs are the Makefile's BINARIES"
	@sh deploy/check-systemd.sh $(BIN)
	cd deploy/composecheck && GOWORK=off $(GO) run . ../compose.yaml ../dev.env "$(BINARIES)"
	@if docker compose version >/dev/null 2>&1; then \
		docker compose -f deploy/compose.yaml --env-file deploy/dev.env config -q && \
		echo "deploy-check: docker compose config accepts deploy/compose.yaml"; \
	else \
		echo "deploy-check: no docker compose plugin; docker compose config skipped"; \
	fi

# loadtest runs 32 concurrent department clients for a minute and checks that
# acknowledged, stored and projected events agree (make test runs it briefly).
LOAD_DURATION ?= 60s
loadtest:
	JF_LOAD_DURATION=$(LOAD_DURATION) $(GO) test -count=1 -v -run TestLoadCountsAgree ./services/internal/loadtest/

# nats-cli builds the official NATS CLI (natscli), pinned, into bin/nats, in a
# throwaway module: `go install ...@latest` needs the module proxy's version
# list, which not every proxy serves.
NATSCLI_VERSION ?= v0.3.0
.PHONY: nats-cli
nats-cli:
	@mkdir -p $(BIN)
	d=$$(mktemp -d) && cd $$d && $(GO) mod init natscli-build >/dev/null 2>&1 && \
		$(GO) get github.com/nats-io/natscli/nats@$(NATSCLI_VERSION) && \
		$(GO) build -o $(CURDIR)/$(BIN)/nats github.com/nats-io/natscli/nats && rm -rf $$d
