package localtest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/efs-cw/backupbridge/internal/table"
)

// DamagePartnerRules overwrites the stored rules of partner id with the
// string s, the damage the security review found (a partner whose record no
// longer decodes: partner.ErrUnreadable).
func DamagePartnerRules(t testing.TB, db *dynamodb.Client, tbl, id, s string) {
	t.Helper()
	if _, err := db.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName:                 aws.String(tbl),
		Key:                       table.Key("PARTNERS", id),
		UpdateExpression:          aws.String("SET #r = :s"),
		ExpressionAttributeNames:  map[string]string{"#r": "rules"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": table.S(s)},
	}); err != nil {
		t.Fatal(err)
	}
}

// Trickle writes one space to conn every interval, far slower than any
// declared body needs, until the returned stop is called or a write fails:
// the slow client a server's read timeout must cut off.
func Trickle(conn net.Conn, every time.Duration) (stop func()) {
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	return func() { close(done) }
}
