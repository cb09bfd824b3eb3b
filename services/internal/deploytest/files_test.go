package deploytest

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/shred"
)

func read(t *testing.T, parts ...string) string {
	t.Helper()
	b, err := os.ReadFile(repo(parts...))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// makeBinaries is the Makefile's BINARIES: what `make build` builds.
func makeBinaries(t *testing.T) []string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^BINARIES\s*:?=\s*(.+)$`).FindStringSubmatch(read(t, "Makefile"))
	if m == nil {
		t.Fatal("no BINARIES in the Makefile")
	}
	return strings.Fields(m[1])
}

// TestDeployFilesAgree keeps the image, the units and compose in step with
// the Makefile and with each other.
func TestDeployFilesAgree(t *testing.T) {
	t.Parallel()
	bins := makeBinaries(t)

	cf := read(t, "deploy", "container", "Containerfile")
	m := regexp.MustCompile(`(?m)^ARG BINARIES="([^"]*)"$`).FindStringSubmatch(cf)
	if m == nil || !slices.Equal(strings.Fields(m[1]), bins) {
		t.Errorf("Containerfile's ARG BINARIES %q differs from the Makefile's %v", m, bins)
	}

	compose := read(t, "deploy", "compose.yaml")
	for _, b := range bins {
		unit := read(t, "deploy", "systemd", "jobogfamilie-"+b+".service")
		if !strings.Contains(unit, "\nExecStart=/opt/jobogfamilie/bin/"+b) {
			t.Errorf("jobogfamilie-%s.service does not run /opt/jobogfamilie/bin/%s", b, b)
		}
		if !strings.Contains(compose, `command: ["`+b+`"`) {
			t.Errorf("compose.yaml has no service running %s", b)
		}
	}

	// The server in compose is the one the services are built and tested
	// against.
	gomod := read(t, "services", "go.mod")
	v := regexp.MustCompile(`github\.com/nats-io/nats-server/v2 v(\d+\.\d+)\.`).FindStringSubmatch(gomod)
	img := regexp.MustCompile(`image: docker\.io/library/nats:(\d+\.\d+)-alpine`).FindStringSubmatch(compose)
	if v == nil || img == nil || v[1] != img[1] {
		t.Errorf("compose runs nats %v, services/go.mod has nats-server %v", img, v)
	}

	// Every password variable of the server config is provided by compose,
	// the dev env file and the example for production.
	vars := regexp.MustCompile(`\$(JF_NATS_[A-Z_]+_HASH)`).FindAllStringSubmatch(read(t, "deploy", "nats", "accounts.conf"), -1)
	var got, want []string
	for _, v := range vars {
		got = append(got, v[1])
	}
	for _, u := range natsUsers {
		want = append(want, hashVar(u))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("accounts.conf reads the hash variables %v, want one of each user: %v", got, want)
	}
	example := read(t, "deploy", "systemd", "env", "nats.env.example")
	for _, v := range vars {
		if !strings.Contains(compose, "${"+v[1]+":?") || !strings.Contains(example, "\n"+v[1]+"='") {
			t.Errorf("%s is not set by compose.yaml or nats.env.example", v[1])
		}
	}
}

// TestMasterKeySettings: every process that reads or writes the data keys
// is told where the deployment's one master key is: each systemd env
// example names JF_MASTER_KEY_FILE, and each compose service on the
// cluster gets the shared JF_MASTER_KEY of dev.env.
func TestMasterKeySettings(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"sof", "projector", "audit", "standalone"} {
		env := read(t, "deploy", "systemd", "env", f+".env.example")
		if !strings.Contains(env, "\nJF_MASTER_KEY_FILE=/etc/jobogfamilie/master.key\n") {
			t.Errorf("%s.env.example does not set JF_MASTER_KEY_FILE", f)
		}
	}
	compose := read(t, "deploy", "compose.yaml")
	services := regexp.MustCompile(`(?m)^  ([a-z0-9-]+):\n((?:    .*\n|\n)*)`).FindAllStringSubmatch(compose, -1)
	n := 0
	for _, m := range services {
		name, body := m[1], m[2]
		if !strings.Contains(body, "JF_NATS_URL:") || name == "setup-streams" {
			continue
		}
		n++
		if !strings.Contains(body, "      JF_MASTER_KEY: ${JF_MASTER_KEY:?see deploy/dev.env}\n") {
			t.Errorf("compose service %s does not get the shared JF_MASTER_KEY", name)
		}
	}
	if n != 7 { // four departments, two projector replicas, audit
		t.Errorf("%d compose services on the cluster, want 7", n)
	}
	dev := read(t, "deploy", "dev.env")
	m := regexp.MustCompile(`(?m)^JF_MASTER_KEY=([0-9a-f]{64})$`).FindStringSubmatch(dev)
	if m == nil {
		t.Fatal("dev.env has no JF_MASTER_KEY of 64 hex digits")
	}
	if _, err := shred.ParseMasterKey(m[1]); err != nil {
		t.Errorf("dev.env's JF_MASTER_KEY: %v", err)
	}
}

// TestReplicasAgree keeps compose's projector read replicas, the load
// balancer in front of them and the NATS permissions of their consumers in
// step: every JF_INSTANCE of compose has its consumer in accounts.conf (and
// in the least-privilege table) and its container in both of nginx's
// upstreams, and nothing else is there.
func TestReplicasAgree(t *testing.T) {
	t.Parallel()
	compose := read(t, "deploy", "compose.yaml")
	accounts := read(t, "deploy", "nats", "accounts.conf")
	lb := read(t, "deploy", "lb", "nginx.conf")
	var instances []string
	for _, m := range regexp.MustCompile(`(?m)^  (projector-[a-z0-9-]+):\n(?:    .*\n)*?      JF_INSTANCE: ([a-z0-9-]+)\n`).FindAllStringSubmatch(compose, -1) {
		if m[1] != eventstore.ProjectorConsumer(m[2]) {
			t.Errorf("compose service %s runs instance %s", m[1], m[2])
		}
		instances = append(instances, m[2])
	}
	if len(instances) < 2 {
		t.Fatalf("compose runs %d projector replicas, want two", len(instances))
	}
	consumers := []string{eventstore.ProjectorConsumer("")}
	for _, in := range instances {
		c := eventstore.ProjectorConsumer(in)
		consumers = append(consumers, c)
		for _, line := range []string{
			`"$JS.API.CONSUMER.INFO.FAMILY_EVENTS.` + c + `"`,
			`"$JS.API.CONSUMER.DELETE.FAMILY_EVENTS.` + c + `"`,
			`"$JS.ACK.FAMILY_EVENTS.` + c + `.>"`,
		} {
			if strings.Count(accounts, line) != 1 {
				t.Errorf("accounts.conf grants %s %d times, want once (the projector user)", line, strings.Count(accounts, line))
			}
		}
		// The four departments, audit and admin may not create it.
		if n := strings.Count(accounts, `"$JS.API.CONSUMER.CREATE.*.`+c+`"`); n != 6 {
			t.Errorf("accounts.conf denies creating %s to %d users, want 6", c, n)
		}
		if n := strings.Count(lb, "server "+c+":8080 "); n != 2 {
			t.Errorf("nginx.conf names %s in %d upstreams, want 2", c, n)
		}
	}
	if !slices.Equal(consumers, deployConsumers) {
		t.Errorf("compose's consumers %v, the least-privilege table's %v", consumers, deployConsumers)
	}
	if n := strings.Count(lb, "    server "); n != 2*len(instances) {
		t.Errorf("nginx.conf has %d upstream servers, want %d", n, 2*len(instances))
	}
}

// TestSystemdUnitsHardened checks the settings every unit must keep, here
// where systemd-analyze may be missing (make deploy-check runs it).
func TestSystemdUnitsHardened(t *testing.T) {
	t.Parallel()
	want := []string{
		"User=", "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "ReadWritePaths=",
		"EnvironmentFile=/etc/jobogfamilie/", "Restart=on-failure", "TimeoutStopSec=", "CapabilityBoundingSet=\n",
	}
	units, err := os.ReadDir(repo("deploy", "systemd"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, u := range units {
		if !strings.HasSuffix(u.Name(), ".service") {
			continue
		}
		n++
		text := read(t, "deploy", "systemd", u.Name())
		for _, w := range want {
			if !strings.Contains(text, "\n"+w) {
				t.Errorf("%s lacks %q", u.Name(), strings.TrimSpace(w))
			}
		}
		if strings.Contains(text, "\nUser=root") {
			t.Errorf("%s runs as root", u.Name())
		}
	}
	if n != len(makeBinaries(t))+1 { // and the NATS node template
		t.Errorf("%d units in deploy/systemd", n)
	}
}

// TestDevEnvHashesMatch: the dev env file's hashes are of its passwords, so
// that compose's servers accept compose's services.
func TestDevEnvHashesMatch(t *testing.T) {
	t.Parallel()
	f, err := os.Open(repo("deploy", "dev.env"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		env[k] = strings.Trim(v, "'")
	}
	for _, u := range natsUsers {
		pw, hash := env[envVar(u, "PASSWORD")], env[hashVar(u)]
		if !strings.HasPrefix(pw, "dev-only-") {
			t.Errorf("dev password of %s does not say it is dev-only", u)
		}
		if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)); err != nil {
			t.Errorf("%s: %s does not match the password: %v", u, hashVar(u), err)
		}
	}
}

// TestImageEntrypoint runs the image's entrypoint with stand-in programs:
// the first argument picks one of JF_BINARIES and gets the rest; a program
// that was not built, or is not one of them, is refused with a message.
func TestImageEntrypoint(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sof"), []byte("#!/bin/sh\necho \"sof ran with $*\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, int) {
		cmd := exec.Command("/bin/sh", append([]string{repo("deploy", "container", "entrypoint.sh")}, args...)...)
		cmd.Env = append(os.Environ(), "JF_BIN_DIR="+dir, "JF_BINARIES=sof audit standalone")
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	if out, code := run("sof", "-http", "0.0.0.0:8080"); code != 0 || out != "sof ran with -http 0.0.0.0:8080\n" {
		t.Errorf("sof: exit %d, %q", code, out)
	}
	if out, code := run("audit", "serve"); code != 127 || !strings.Contains(out, "audit is not in this image") {
		t.Errorf("audit, not built: exit %d, %q", code, out)
	}
	if out, code := run("bash"); code != 64 || !strings.Contains(out, "usage:") {
		t.Errorf("bash: exit %d, %q", code, out)
	}
}
