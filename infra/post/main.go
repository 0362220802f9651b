// Command post signs an event body with a partner's webhook secret (the
// Standard Webhooks scheme) and posts it to a webhook URL, printing the
// answer. It is how a person tries the local stack by hand:
//
//	go run ./infra/post -url http://127.0.0.1:3000/v1/partners/demo/events events/notification-backup-failure.json
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/signature"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "post:", err)
		os.Exit(1)
	}
}

func run() error {
	url := flag.String("url", "http://127.0.0.1:3000/v1/partners/"+partner.DemoPartnerID+"/events", "webhook URL")
	secret := flag.String("secret", partner.DemoWebhookSecret, "webhook signing secret (whsec_…)")
	id := flag.String("id", "", "webhook-id (default random; repeat one to see the duplicate answer)")
	flag.Parse()
	if flag.NArg() != 1 {
		return fmt.Errorf("usage: post [-url URL] [-secret whsec_…] [-id ID] event.json")
	}
	body, err := os.ReadFile(flag.Arg(0))
	if err != nil {
		return err
	}
	key, err := signature.ParseSecret(*secret)
	if err != nil {
		return err
	}
	if *id == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		*id = "msg_" + hex.EncodeToString(b[:])
	}
	now := time.Now()
	req, err := http.NewRequest(http.MethodPost, *url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("content-type", "application/json")
	req.Header.Set(signature.HeaderID, *id)
	req.Header.Set(signature.HeaderTimestamp, fmt.Sprint(now.Unix()))
	req.Header.Set(signature.HeaderSignature, signature.Sign(key, *id, now, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	fmt.Printf("%s\n%s\n", resp.Status, out)
	return nil
}
