package partner

import "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

// UnmarshalItemForTest decodes a stored item.
func UnmarshalItemForTest(item map[string]types.AttributeValue) (*Partner, error) {
	return unmarshal(item)
}
