// Command cwsim runs the ConnectWise simulator alone, seeded with the demo
// MSP, until interrupted:
//
//	go run ./infra/cwsim -addr 127.0.0.1:8443 -ca-dir ./.local/cwsim
//
// It prints the site URL, the demo credentials and the SSL_CERT_FILE line
// that makes clients trust its CA (persisted in -ca-dir, so it survives
// restarts).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/efs-cw/backupbridge/internal/dev/cwsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cwsim:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("cwsim", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8443", "listen address")
	caDir := fs.String("ca-dir", "./.local/cwsim", "directory of the simulator CA (ca.pem, ca-key.pem), created if missing")
	codebase := fs.String("codebase", cwsim.DefaultCodebase, `API codebase, such as "v4_6_release/" or "v2025_1/"`)
	verbose := fs.Bool("v", false, "log every request")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	dir, err := filepath.Abs(*caDir)
	if err != nil {
		return fmt.Errorf("resolve -ca-dir: %w", err)
	}
	opts := cwsim.Options{Addr: *addr, CADir: dir, Codebase: *codebase}
	if *verbose {
		opts.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	sim := cwsim.New(opts)
	demo := cwsim.SeedDemo(sim)
	if err := sim.Start(); err != nil {
		return err
	}
	defer sim.Close()

	fmt.Fprintf(out, "ConnectWise simulator listening on %s\n", sim.URL())
	fmt.Fprintf(out, "  API base:     %s\n", sim.APIURL())
	fmt.Fprintf(out, "  company id:   %s\n", cwsim.DemoCompanyID)
	fmt.Fprintf(out, "  public key:   %s\n", cwsim.DemoPublicKey)
	fmt.Fprintf(out, "  private key:  %s\n", cwsim.DemoPrivateKey)
	fmt.Fprintf(out, "  clientId:     %s (any GUID is accepted)\n", cwsim.DemoClientID)
	fmt.Fprintf(out, "  board:        %q (id %d), companies %s (id %d, %s), %s (id %d, %s), %s (id %d)\n",
		demo.BackupBoard.Name, demo.BackupBoard.ID,
		demo.Acme.Identifier, demo.Acme.ID, demo.Acme.ManagedID,
		demo.Birch.Identifier, demo.Birch.ID, demo.Birch.ManagedID,
		demo.Cedar.Identifier, demo.Cedar.ID)
	fmt.Fprintf(out, "Trust its CA with:\n  export SSL_CERT_FILE=%s\n", filepath.Join(dir, cwsim.CACertFile))
	fmt.Fprintln(out, "Press Ctrl-C to stop.")

	<-ctx.Done()
	fmt.Fprintln(out, "stopping")
	return nil
}
