package signature_test

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/efs-cw/backupbridge/internal/signature"
)

func Example() {
	key, err := signature.ParseSecret("whsec_ZGVtby13ZWJob29rLXNlY3JldC1mb3ItbG9jYWwtdXNlLW9ubHk=")
	if err != nil {
		panic(err)
	}
	body := []byte(`{"specVersion":"1.0"}`)
	sent := time.Unix(1772419277, 0)

	// The sender.
	id, ts := "msg_1", strconv.FormatInt(sent.Unix(), 10)
	sig := signature.Sign(key, id, sent, body)

	// The receiver, a minute later, then ten minutes later.
	fmt.Println(signature.Verify([][]byte{key}, id, ts, sig, body, sent.Add(time.Minute)))
	err = signature.Verify([][]byte{key}, id, ts, sig, body, sent.Add(10*time.Minute))
	fmt.Println(errors.Is(err, signature.ErrStale))
	// Output:
	// <nil>
	// true
}
