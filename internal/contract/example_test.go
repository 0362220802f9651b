package contract_test

import (
	"errors"
	"fmt"

	"github.com/efs-cw/backupbridge/internal/contract"
)

func ExampleParse() {
	body := []byte(`{
	  "specVersion": "1.0",
	  "type": "backup.completed",
	  "occurredAt": "2026-03-03T02:05:51Z",
	  "customer": {"id": "1001", "name": "Acme Dental"},
	  "backup": {
	    "account": {"id": "ACME-SRV01", "kind": "server", "plan": "gold"},
	    "result": "failure", "endedAt": "2026-03-03T02:05:48Z",
	    "onlineGB": 412.37, "localGB": 598.1
	  }
	}`)
	_, err := contract.Parse(body)
	fmt.Println(err)

	var ve *contract.ValidationError
	if errors.As(err, &ve) {
		fmt.Println(ve.Field)
	}
	// Output:
	// backup.account.plan: must be one of select, basic, shadowprotect_bdr
	// backup.account.plan
}
