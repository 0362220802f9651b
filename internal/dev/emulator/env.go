package emulator

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/efs-cw/backupbridge/internal/dev/localaws"
	"github.com/efs-cw/backupbridge/internal/dev/stackdef"
)

// LogicalID is the template's logical id of the function built from
// ./functions/<name>: webhook → WebhookFunction.
func LogicalID(name string) string {
	if name == "" {
		return ""
	}
	return strings.ToUpper(name[:1]) + name[1:] + "Function"
}

// awsOnlyEnv are variables naming resources the local stack has no stand-in
// for (the console's Cognito sign-in, the alarm topic); left empty, that
// sign-in is off and a pause's alarm is its log line only.
var awsOnlyEnv = map[string]bool{"COGNITO_ISSUER": true, "COGNITO_DOMAIN": true, "CONSOLE_SECRET_ID": true, "ALARM_TOPIC_ARN": true}

// FunctionEnv is the environment template.yaml gives the function logicalID
// (Globals applied, parameters at their defaults), pointed at the local
// stack st:
//
//   - !Ref of a table is its physical name in st, !Ref of a queue its URL,
//     !GetAtt of a queue's Arn its ARN;
//   - what Lambda itself sets: AWS_REGION and the credentials (st's static
//     ones), and the AWS_LAMBDA_FUNCTION_NAME, _TIMEOUT and _MEMORY_SIZE the
//     emulator reads (name = logical id; timeout and memory from the template);
//   - st's AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL_SQS in place of the
//     template's empty local hooks.
//
// LOCAL_SECRETS_FILE stays as the template declares it (empty: Secrets
// Manager); set it for a local run.
func FunctionEnv(def *stackdef.Stack, logicalID string, st *localaws.Stack) (map[string]string, error) {
	f, ok := def.Function(logicalID)
	if !ok {
		return nil, fmt.Errorf("function env: template.yaml has no function %s", logicalID)
	}
	tables := map[string]bool{}
	for _, t := range def.Tables {
		tables[t.LogicalID] = true
	}
	env := make(map[string]string, len(f.Env)+8)
	for name, v := range f.Env {
		if awsOnlyEnv[name] {
			env[name] = ""
			continue
		}
		if lit, ok := def.Resolve(v); ok {
			env[name] = lit
			continue
		}
		if v.Tag == "!Ref" && v.Kind == stackdef.Scalar {
			if tables[v.Scalar] {
				if n := st.Names[v.Scalar]; n != "" {
					env[name] = n
					continue
				}
			}
			if u := st.QueueURLs[v.Scalar]; u != "" {
				env[name] = u
				continue
			}
		}
		if v.Tag == "!GetAtt" && v.Attribute() == "Arn" {
			if arn := st.QueueARNs[v.Target()]; arn != "" {
				env[name] = arn
				continue
			}
		}
		return nil, fmt.Errorf("function env: %s.%s = %s: not a literal, a parameter with a default, or a table or queue of the local stack", logicalID, name, v)
	}
	stackEnv := st.Env()
	for _, k := range []string{"AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS"} {
		if v, ok := stackEnv[k]; ok {
			env[k] = v
		}
	}
	env["AWS_LAMBDA_FUNCTION_NAME"] = logicalID
	if f.Timeout > 0 {
		env["AWS_LAMBDA_FUNCTION_TIMEOUT"] = strconv.Itoa(f.Timeout)
	}
	if f.MemorySize > 0 {
		env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = strconv.Itoa(f.MemorySize)
	}
	return env, nil
}
