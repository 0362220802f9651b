package costmeter

import (
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/efs-cw/backupbridge/internal/dev/stackdef"
)

// sqsMessageSize is the payload of one SQS message as SQS bills it: the
// body and every message attribute's name, type and value.
func sqsMessageSize(body string, attrs map[string]sqstypes.MessageAttributeValue) int {
	n := len(body)
	for name, a := range attrs {
		n += len(name)
		if a.DataType != nil {
			n += len(*a.DataType)
		}
		if a.StringValue != nil {
			n += len(*a.StringValue)
		}
		n += len(a.BinaryValue)
	}
	return n
}

var (
	placeholder = regexp.MustCompile(`[#:][A-Za-z0-9_]+`)
	// name = :value, and begins_with(name, :value)
	equality   = regexp.MustCompile(`([#A-Za-z0-9_]+)\s*=\s*(:[A-Za-z0-9_]+)`)
	beginsWith = regexp.MustCompile(`begins_with\s*\(\s*([#A-Za-z0-9_]+)\s*,\s*(:[A-Za-z0-9_]+)\s*\)`)
	between    = regexp.MustCompile(`([#A-Za-z0-9_]+)\s+(?i:between)\s+(:[A-Za-z0-9_]+)`)
)

// keyConditionOnly keeps the expression names and values the key condition
// uses (DynamoDB refuses unused ones).
func keyConditionOnly(p *dynamodb.QueryInput) (map[string]string, map[string]types.AttributeValue) {
	used := map[string]bool{}
	if p.KeyConditionExpression != nil {
		for _, ph := range placeholder.FindAllString(*p.KeyConditionExpression, -1) {
			used[ph] = true
		}
	}
	var names map[string]string
	for k, v := range p.ExpressionAttributeNames {
		if used[k] {
			if names == nil {
				names = map[string]string{}
			}
			names[k] = v
		}
	}
	var values map[string]types.AttributeValue
	for k, v := range p.ExpressionAttributeValues {
		if used[k] {
			if values == nil {
				values = map[string]types.AttributeValue{}
			}
			values[k] = v
		}
	}
	return names, values
}

// queryKey is the key values a query's key condition names, for Label: the
// partition key's value, and the sort key's (or its prefix).
func queryKey(schema stackdef.Table, p *dynamodb.QueryInput) Item {
	key := Item{}
	if p.KeyConditionExpression == nil {
		return key
	}
	resolve := func(name string) string {
		if strings.HasPrefix(name, "#") {
			return p.ExpressionAttributeNames[name]
		}
		return name
	}
	expr := *p.KeyConditionExpression
	for _, re := range []*regexp.Regexp{equality, beginsWith, between} {
		for _, m := range re.FindAllStringSubmatch(expr, -1) {
			name := resolve(m[1])
			if v, ok := p.ExpressionAttributeValues[m[2]]; ok && (name == schema.KeySchema.Hash() || name == schema.KeySchema.Range()) {
				if _, seen := key[name]; !seen {
					key[name] = v
				}
			}
		}
	}
	return key
}
