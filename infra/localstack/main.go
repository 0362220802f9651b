// Command localstack is `make run`: the whole service on this machine (see
// internal/dev/localstack). It runs in the foreground until interrupted.
//
// By default the demo partner talks to the built-in ConnectWise simulator. To
// use a real ConnectWise site instead, set CW_SITE_URL, CW_COMPANY_ID,
// CW_PUBLIC_KEY, CW_PRIVATE_KEY, CW_CLIENT_ID, and optionally CW_BOARD
// (default "eFolder Backup"), CW_NEW_STATUS (default "New"), CW_PRIORITY and
// CW_CODEBASE (default: looked up from the site).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/dev/localstack"
	"github.com/efs-cw/backupbridge/internal/partner"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "localstack:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:3000", "listen address of the local API Gateway (a loopback IP and port)")
	dir := flag.String("dir", ".local", "directory for local state (CA, local secrets, goaws log)")
	workers := flag.Int("workers", 2, "concurrent worker invocations")
	resyncEvery := flag.Duration("resync-every", 24*time.Hour, "interval of the resync schedule")
	healthEvery := flag.Duration("health-every", time.Minute, "interval of the partners' health tick (probes of paused partners, replays of resuming ones)")
	visibility := flag.Int("visibility", 30, "visibility timeout of the events queue, seconds (the template's is 360)")
	token := flag.String("operator-token", "", "bearer token accepted on the operator API in place of IAM, and the console's operator sign-in (default random)")
	viewerToken := flag.String("viewer-token", "", "the console's read-only sign-in token (default random)")
	verbose := flag.Bool("v", false, "debug logging")
	flag.Parse()

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	real := os.Getenv("CW_SITE_URL") != ""
	st, err := localstack.Start(ctx, localstack.Options{
		Dir: *dir, Addr: *addr, NoSimulator: real, NoDemo: real,
		VisibilityTimeout: *visibility, WorkerConcurrency: *workers,
		OperatorToken: *token, ViewerToken: *viewerToken, Logger: logger, MetricsOut: os.Stdout,
	})
	if err != nil {
		return err
	}
	defer st.Close()
	if real {
		if err := seedRealSite(ctx, st); err != nil {
			return err
		}
	}
	printWelcome(st, real)

	go st.RunSchedule(ctx, *resyncEvery)
	go st.RunHealth(ctx, *healthEvery)
	err = st.RunWorkers(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func seedRealSite(ctx context.Context, st *localstack.Stack) error {
	p, s := localstack.DemoPartner(os.Getenv("CW_SITE_URL"))
	p.CompanyID = os.Getenv("CW_COMPANY_ID")
	p.Codebase = os.Getenv("CW_CODEBASE") // empty: looked up from login/companyinfo
	p.Board = getenv("CW_BOARD", "eFolder Backup")
	p.NewStatus = getenv("CW_NEW_STATUS", "New")
	p.Priority = os.Getenv("CW_PRIORITY")
	p.Products, p.Integration.Billing = nil, nil
	s.PublicKey, s.PrivateKey, s.ClientID = os.Getenv("CW_PUBLIC_KEY"), os.Getenv("CW_PRIVATE_KEY"), os.Getenv("CW_CLIENT_ID")
	if err := p.Validate(connectwise.SitePolicy{}); err != nil { // a real site is a public host
		return fmt.Errorf("real ConnectWise site: %w", err)
	}
	if err := s.Validate(); err != nil {
		return fmt.Errorf("real ConnectWise site (CW_PUBLIC_KEY, CW_PRIVATE_KEY, CW_CLIENT_ID): %w", err)
	}
	if err := st.Service.Secrets.PutSecrets(ctx, p.ID, s); err != nil {
		return err
	}
	if err := st.Service.Partners.Create(ctx, p); err != nil && !errors.Is(err, partner.ErrExists) {
		return err
	}
	return nil
}

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func printWelcome(st *localstack.Stack, real bool) {
	w := os.Stdout
	fmt.Fprintf(w, "\nbackupbridge is running locally.\n\n")
	fmt.Fprintf(w, "  Webhook (partner %q):  POST %s\n", partner.DemoPartnerID, st.WebhookURL(partner.DemoPartnerID))
	fmt.Fprintf(w, "  Signing secret:        %s   (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature)\n", partner.DemoWebhookSecret)
	fmt.Fprintf(w, "  Send a sample:         go run ./infra/post -url %s events/notification-backup-failure.json\n", st.WebhookURL(partner.DemoPartnerID))
	fmt.Fprintf(w, "  Operator API:          curl -H 'authorization: Bearer %s' %s/v1/admin/partners/%s/events\n", st.OperatorToken, st.URL, partner.DemoPartnerID)
	fmt.Fprintf(w, "  Operator console:      %s\n", st.ConsoleURL())
	fmt.Fprintf(w, "    sign in as operator: %s\n", st.OperatorToken)
	fmt.Fprintf(w, "    sign in as viewer:   %s   (read only)\n", st.ViewerToken)
	if !real && st.Sim != nil {
		fmt.Fprintf(w, "  ConnectWise simulator: %s  (company %s; trust its CA with SSL_CERT_FILE=%s)\n", st.Sim.URL(), st.Demo.Partner.CompanyID, st.CAFile)
		fmt.Fprintf(w, "  Tickets in the sim:    curl --cacert %s -u '%s+%s:%s' -H 'clientId: %s' %s/v4_6_release/apis/3.0/service/tickets\n",
			st.CAFile, st.Demo.Partner.CompanyID, st.Demo.Secrets.PublicKey, st.Demo.Secrets.PrivateKey, st.Demo.Secrets.ClientID, st.Sim.URL())
	} else {
		fmt.Fprintf(w, "  ConnectWise:           the real site %s\n", os.Getenv("CW_SITE_URL"))
	}
	fmt.Fprintf(w, "  Queue / sync / DLQ:    %s / %s / %s\n\nCtrl-C stops everything.\n\n", st.QueueURL, st.SyncURL, st.DLQURL)
}
