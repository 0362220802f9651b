// Package backupbridge is the root of the backupbridge module: a bridge that
// receives signed backup events from the backup provider and keeps ConnectWise
// PSA tickets in step with them (see docs/design.md).
//
// The package holds only the deployed AWS SAM template, embedded so that code
// (internal/dev/stackdef, the local stack, the template tests) reads exactly the
// file that `sam deploy` deploys rather than a copy of it.
package backupbridge

import _ "embed"

// Template is the content of template.yaml at the root of the module: the AWS
// SAM template of the whole application. Parse it with internal/dev/stackdef.
//
//go:embed template.yaml
var Template []byte
