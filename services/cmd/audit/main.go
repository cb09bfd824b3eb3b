// Command audit is the auditor API (`audit serve`) and the auditors' CLI
// (`audit replay`, `audit verify`, `audit export`, `audit verify-export`);
// see services/internal/audit and CONTRACT.md, "Auditor API".
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"kk.dk/jobogfamilie/services/internal/audit"
	"kk.dk/jobogfamilie/services/internal/process"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, audit.Usage)
		os.Exit(2)
	}
	if sub := os.Args[1]; sub != "serve" {
		code := audit.Command(ctx, sub, os.Args[2:], os.Getenv, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	code := process.MainCommand(ctx, "audit", "audit serve", os.Args[2:], audit.Run)
	stop()
	os.Exit(code)
}
