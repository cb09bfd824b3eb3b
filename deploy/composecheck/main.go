// Command composecheck loads deploy/compose.yaml with compose-go, the
// loader of docker compose v2, as `docker compose config -q` would: schema,
// interpolation from the env file, anchors and merges. It is what `make
// deploy-check` runs where the docker compose plugin is missing (no Docker
// engine is needed either way). It also checks what the deployment relies
// on: each service runs a program of the image, and connects to all three
// NATS nodes as its own NATS user with three replicas.
//
// It is a module of its own, outside go.work, so that the services do not
// depend on compose-go:
//
//	cd deploy/composecheck && GOWORK=off go run . ../compose.yaml ../dev.env "sof bif buf suf projector audit standalone"
package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: composecheck COMPOSE_FILE ENV_FILE BINARIES")
		os.Exit(2)
	}
	if err := check(os.Args[1], os.Args[2], strings.Fields(os.Args[3])); err != nil {
		fmt.Fprintln(os.Stderr, "composecheck:", err)
		os.Exit(1)
	}
}

func check(file, envFile string, binaries []string) error {
	opts, err := cli.NewProjectOptions([]string{file}, cli.WithEnvFiles(envFile), cli.WithDotEnv)
	if err != nil {
		return err
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		return err
	}
	all := types.Services{}
	for name, s := range p.Services {
		all[name] = s
	}
	for name, s := range p.DisabledServices { // those behind a profile
		all[name] = s
	}
	seen := map[string]bool{}
	for name, s := range all {
		if s.Image != "jobogfamilie:dev" {
			continue
		}
		if len(s.Command) == 0 || !slices.Contains(binaries, s.Command[0]) {
			return fmt.Errorf("service %s runs %v, not one of %v", name, s.Command, binaries)
		}
		seen[s.Command[0]] = true
		if s.Command[0] == "standalone" {
			continue
		}
		if v := s.Environment["JF_REPLICAS"]; v == nil || *v != "3" {
			return fmt.Errorf("service %s: JF_REPLICAS is not 3", name)
		}
		raw := s.Environment["JF_NATS_URL"]
		if raw == nil {
			return fmt.Errorf("service %s has no JF_NATS_URL", name)
		}
		hosts := map[string]bool{}
		for _, part := range strings.Split(*raw, ",") {
			u, err := url.Parse(part)
			if err != nil {
				return fmt.Errorf("service %s: JF_NATS_URL: %w", name, err)
			}
			if pw, _ := u.User.Password(); u.User.Username() != s.Command[0] || pw == "" {
				return fmt.Errorf("service %s connects to %s as %q, not as its own user with a password", name, u.Host, u.User.Username())
			}
			hosts[u.Hostname()] = true
		}
		if len(hosts) != 3 {
			return fmt.Errorf("service %s knows %d NATS nodes, want all 3", name, len(hosts))
		}
	}
	for _, b := range binaries {
		if !seen[b] {
			return fmt.Errorf("no service runs %s", b)
		}
	}
	fmt.Printf("composecheck: %s is valid: %d services (%d behind a profile)\n", file, len(all), len(p.DisabledServices))
	return nil
}
