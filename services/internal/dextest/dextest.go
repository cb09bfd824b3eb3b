// Package dextest runs Dex, a real OpenID Connect provider, as a process
// of the test on loopback. The binary comes from deploy/dex/build.sh, which
// builds it from the Go module proxy into a cache directory outside the
// repository (.ci/run builds it before the tests); without it a test is
// skipped, and fails under CI=true.
package dextest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"kk.dk/jobogfamilie/services/internal/testenv"
)

// Version is the Dex module version deploy/dex/build.sh builds; keep the
// two equal.
const Version = "v0.0.0-20260303133905-11d2eeb52b42"

// Binary is the Dex binary: JF_DEX, else build.sh's cache path.
func Binary() string {
	if p := os.Getenv("JF_DEX"); p != "" {
		return p
	}
	out, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		return ""
	}
	return filepath.Join(strings.TrimSpace(string(out)), "..", "jf-dex", Version, "dex")
}

// User is a static password user of the password DB.
type User struct {
	Email, Password, Name, Username string
	// Groups carry the roles (Dex has no custom claims).
	Groups []string
}

// Client is a static client.
type Client struct {
	ID, Secret   string
	RedirectURIs []string
}

// Dex is a running Dex.
type Dex struct {
	// Issuer is http://127.0.0.1:<port>/dex.
	Issuer string
}

// Start runs Dex with an in-memory store, the password DB as the
// password grant's connector, and the given clients and users; it stops
// with the test.
func Start(t testing.TB, clients []Client, users []User) *Dex {
	t.Helper()
	checkBinary(t)
	addr := freeAddr(t)
	issuer := "http://" + addr + "/dex"
	var b strings.Builder
	fmt.Fprintf(&b, "issuer: %s\nstorage:\n  type: memory\nweb:\n  http: %s\n", issuer, addr)
	b.WriteString("logger:\n  level: warn\noauth2:\n  skipApprovalScreen: true\n  passwordConnector: local\nenablePasswordDB: true\n")
	b.WriteString("staticClients:\n")
	for _, c := range clients {
		fmt.Fprintf(&b, "  - id: %q\n    secret: %q\n    name: %q\n    redirectURIs: [", c.ID, c.Secret, c.ID)
		for i, u := range c.RedirectURIs {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%q", u)
		}
		b.WriteString("]\n")
	}
	b.WriteString("staticPasswords:\n")
	for i, u := range users {
		hash, err := bcrypt.GenerateFromPassword([]byte(u.Password), bcrypt.DefaultCost)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "  - email: %q\n    hash: %q\n    username: %q\n    name: %q\n    preferredUsername: %q\n    userID: \"user-%d\"\n    groups: [",
			u.Email, hash, u.Username, u.Name, u.Username, i+1)
		for j, g := range u.Groups {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%q", g)
		}
		b.WriteString("]\n")
	}
	return run(t, addr, b.String())
}

// StartConfig runs Dex on a config file of its own, such as
// deploy/dex/config.yaml, with its issuer and listen address moved to a
// free loopback port; env is added to Dex's environment.
func StartConfig(t testing.TB, path string, env ...string) *Dex {
	t.Helper()
	checkBinary(t)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	lines := strings.Split(string(raw), "\n")
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "issuer:"):
			lines[i] = "issuer: http://" + addr + "/dex"
		case strings.HasPrefix(l, "  http:") && i > 0 && strings.HasPrefix(lines[i-1], "web:"):
			lines[i] = "  http: " + addr
		}
	}
	return run(t, addr, strings.Join(lines, "\n"), env...)
}

func checkBinary(t testing.TB) {
	t.Helper()
	if st, err := os.Stat(Binary()); err != nil || st.IsDir() {
		testenv.SkipUnlessCI(t, "no Dex binary at "+Binary()+" (bash deploy/dex/build.sh builds it); Dex test skipped")
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func run(t testing.TB, addr, config string, env ...string) *Dex {
	t.Helper()
	issuer := "http://" + addr + "/dex"
	dir := t.TempDir()
	cfg := filepath.Join(dir, "dex.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "dex.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(Binary(), "serve", cfg)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(issuer + "/.well-known/openid-configuration")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "dex.log"))
			t.Fatalf("Dex did not start: %v\n%s", err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return &Dex{Issuer: issuer}
}
