package localtest_test

import (
	"encoding/json"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/efs-cw/backupbridge/internal/dev/localaws"
	"github.com/efs-cw/backupbridge/internal/dev/localaws/localtest"
	"github.com/efs-cw/backupbridge/internal/dev/stackdef"
)

// TestStackFromTemplate starts the template's table and queues: the table
// Table, and EventsQueue redriving to EventsDLQ after the template's maxReceiveCount.
func TestStackFromTemplate(t *testing.T) {
	t.Parallel()
	st := localtest.Stack(t)

	env := st.Env()
	if env["TABLE_NAME"] == "" || env["QUEUE_URL"] != st.QueueURLs["EventsQueue"] || env["AWS_ENDPOINT_URL_SQS"] == "" {
		t.Fatalf("Env = %v", env)
	}
	if _, err := st.DynamoDB.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(env["TABLE_NAME"])}); err != nil {
		t.Fatalf("table %s: %v", env["TABLE_NAME"], err)
	}
	out, err := st.SQS.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(env["QUEUE_URL"]),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Attributes["VisibilityTimeout"]; got != "1" {
		t.Errorf("EventsQueue VisibilityTimeout = %s, want Stack's 1-second override", got)
	}
	def, err := stackdef.Load()
	if err != nil {
		t.Fatal(err)
	}
	q, ok := def.Queue("EventsQueue")
	if !ok {
		t.Fatal("template has no EventsQueue")
	}
	want := strconv.Itoa(q.MaxReceiveCount)
	rp := out.Attributes["RedrivePolicy"]
	if dlq := st.QueueARNs["EventsDLQ"]; dlq == "" || !strings.Contains(rp, dlq) || !strings.Contains(rp, `"`+want+`"`) {
		t.Errorf("EventsQueue RedrivePolicy = %s, want EventsDLQ (%s) after the template's %s receives", rp, dlq, want)
	}
}

// TestEnvJSONPointsAtMakeRun: events/env.json (sam local invoke) names the
// servers `make run` starts: goaws and minidyn on 127.0.0.1 at the Makefile's
// LOCAL_SQS_PORT and LOCAL_DYNAMODB_PORT, which the run target hands to
// localaws through its port variables, and the local stack's table and
// queue names.
func TestEnvJSONPointsAtMakeRun(t *testing.T) {
	t.Parallel()
	root, err := localaws.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	port := func(name string) string {
		m := regexp.MustCompile(`(?m)^` + name + `\s*\??=\s*([0-9]+)\s*$`).FindSubmatch(mk)
		if m == nil {
			t.Fatalf("the Makefile has no %s ?= <port>", name)
		}
		return string(m[1])
	}
	sqsPort, ddbPort := port("LOCAL_SQS_PORT"), port("LOCAL_DYNAMODB_PORT")
	for _, v := range []string{localaws.SQSPortEnv + "=$(LOCAL_SQS_PORT)", localaws.DynamoDBPortEnv + "=$(LOCAL_DYNAMODB_PORT)"} {
		if !strings.Contains(string(mk), v) {
			t.Errorf("the Makefile's run target does not pass %s", v)
		}
	}

	b, err := os.ReadFile(filepath.Join(root, "events", "env.json"))
	if err != nil {
		t.Fatal(err)
	}
	var env map[string]map[string]string
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("events/env.json: %v", err)
	}
	def, err := stackdef.Load()
	if err != nil {
		t.Fatal(err)
	}
	names := localaws.DefaultNames(def, localaws.DefaultPrefix)
	if len(env) != len(def.Functions) {
		t.Errorf("events/env.json has %d functions, the template %d", len(env), len(def.Functions))
	}
	for fn, vars := range env {
		want := map[string]string{
			"TABLE_NAME":                names["Table"],
			"AWS_ENDPOINT_URL_SQS":      "http://127.0.0.1:" + sqsPort,
			"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:" + ddbPort,
		}
		for k, w := range want {
			if vars[k] != w {
				t.Errorf("events/env.json %s.%s = %q, want %q", fn, k, vars[k], w)
			}
		}
		u, err := url.Parse(vars["QUEUE_URL"])
		if err != nil || u.Host != "127.0.0.1:"+sqsPort || path.Base(u.Path) != names["EventsQueue"] {
			t.Errorf("events/env.json %s.QUEUE_URL = %q, want http://127.0.0.1:%s/%s/%s", fn, vars["QUEUE_URL"], sqsPort, localaws.AccountID, names["EventsQueue"])
		}
		if fn != "WebhookFunction" {
			u, err := url.Parse(vars["SYNC_QUEUE_URL"])
			if err != nil || u.Host != "127.0.0.1:"+sqsPort || path.Base(u.Path) != names["SyncQueue"] {
				t.Errorf("events/env.json %s.SYNC_QUEUE_URL = %q, want http://127.0.0.1:%s/%s/%s", fn, vars["SYNC_QUEUE_URL"], sqsPort, localaws.AccountID, names["SyncQueue"])
			}
		}
	}
}
