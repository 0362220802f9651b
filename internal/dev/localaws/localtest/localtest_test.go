package localtest_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

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
