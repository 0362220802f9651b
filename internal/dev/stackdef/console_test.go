package stackdef

import (
	"slices"
	"strings"
	"testing"
)

// The operator console's sign-in in template.yaml: a Cognito user pool with
// its hosted UI, the console's app client, the two role groups, the secret
// holding the client id and the session key, and the admin function wired to
// them (internal/console, CognitoSignIn and CognitoFromSecret).

const (
	userPoolType = "AWS::Cognito::UserPool"
	secretType   = "AWS::SecretsManager::Secret"

	// consoleSecretName is the !Sub argument naming ConsoleSecret, as
	// Value.String renders it: the stack's name and unique id only, so that
	// AdminFunction can name the secret without referring to it.
	consoleSecretName = `["${AWS::StackName}/console/${StackUuid}", {StackUuid: !Select [2, !Split [/, !Ref "AWS::StackId"]]}]`

	// consoleSecretARN is the IAM resource of ConsoleSecret as Value.String
	// renders it: its name, then "-" and the 6 random characters Secrets
	// Manager appends.
	consoleSecretARN = `!Sub ["arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${AWS::StackName}/console/${StackUuid}-??????", {StackUuid: !Select [2, !Split [/, !Ref "AWS::StackId"]]}]`

	// consoleAPIBase is the HTTP API's base URL as the template writes it.
	consoleAPIBase = "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
)

func mustResource(t *testing.T, s *Stack, id, typ string) Resource {
	t.Helper()
	r, ok := s.Resource(id)
	if !ok || r.Type != typ {
		t.Fatalf("template has no %s %s (found type %q)", typ, id, r.Type)
	}
	return r
}

func literals(v Value) []string {
	var out []string
	for _, x := range v.Items() {
		if s, ok := x.Literal(); ok {
			out = append(out, s)
		} else {
			out = append(out, x.String())
		}
	}
	return out
}

func TestConsoleUserPool(t *testing.T) {
	t.Parallel()
	s := loadTemplate(t)
	pools := s.ResourcesOfType(userPoolType)
	if len(pools) != 1 || pools[0].LogicalID != "ConsoleUserPool" {
		t.Fatalf("user pools %v, want only ConsoleUserPool", pools)
	}
	p := mustResource(t, s, "ConsoleUserPool", userPoolType).Properties
	if on, err := p.Get("AdminCreateUserConfig", "AllowAdminCreateUserOnly").Bool(); err != nil || !on {
		t.Errorf("AdminCreateUserConfig.AllowAdminCreateUserOnly = %s, want true (no self sign-up)", p.Get("AdminCreateUserConfig", "AllowAdminCreateUserOnly"))
	}
	if u := literals(p.Get("UsernameAttributes")); !slices.Equal(u, []string{"email"}) {
		t.Errorf("UsernameAttributes = %q, want [email]", u)
	}
	// The console shows the verified e-mail address as who signed in: a
	// changed one must not count before it is verified.
	if v := literals(p.Get("UserAttributeUpdateSettings", "AttributesRequireVerificationBeforeUpdate")); !slices.Equal(v, []string{"email"}) {
		t.Errorf("UserAttributeUpdateSettings.AttributesRequireVerificationBeforeUpdate = %q, want [email]", v)
	}
	pw := p.Get("Policies", "PasswordPolicy")
	if n, err := pw.Get("MinimumLength").Int(); err != nil || n < 12 {
		t.Errorf("PasswordPolicy.MinimumLength = %s, want at least 12", pw.Get("MinimumLength"))
	}
	for _, k := range []string{"RequireLowercase", "RequireUppercase", "RequireNumbers", "RequireSymbols"} {
		if on, err := pw.Get(k).Bool(); err != nil || !on {
			t.Errorf("PasswordPolicy.%s = %s, want true", k, pw.Get(k))
		}
	}
	if n, err := pw.Get("TemporaryPasswordValidityDays").Int(); err != nil || n < 1 || n > 7 {
		t.Errorf("PasswordPolicy.TemporaryPasswordValidityDays = %s, want 1 to 7", pw.Get("TemporaryPasswordValidityDays"))
	}
	// MFA by authenticator app, required; no SMS (it needs an SNS role).
	if m, _ := p.Get("MfaConfiguration").Literal(); m != "ON" {
		t.Errorf("MfaConfiguration = %q, want ON", m)
	}
	if m := literals(p.Get("EnabledMfas")); !slices.Equal(m, []string{"SOFTWARE_TOKEN_MFA"}) {
		t.Errorf("EnabledMfas = %q, want [SOFTWARE_TOKEN_MFA]", m)
	}
	if !p.Get("SmsConfiguration").IsZero() {
		t.Error("SmsConfiguration is set; the pool uses no SMS")
	}

	d := mustResource(t, s, "ConsoleUserPoolDomain", "AWS::Cognito::UserPoolDomain").Properties
	if !d.Get("UserPoolId").Points("ConsoleUserPool") {
		t.Errorf("ConsoleUserPoolDomain.UserPoolId = %s, want !Ref ConsoleUserPool", d.Get("UserPoolId"))
	}
	refsPrefix := false
	for _, r := range d.Get("Domain").References() {
		refsPrefix = refsPrefix || r.Name == "CognitoDomainPrefix"
	}
	if !refsPrefix {
		t.Errorf("ConsoleUserPoolDomain.Domain = %s, want it from the CognitoDomainPrefix parameter", d.Get("Domain"))
	}
}

func TestConsoleAppClient(t *testing.T) {
	t.Parallel()
	s := loadTemplate(t)
	clients := s.ResourcesOfType("AWS::Cognito::UserPoolClient")
	if len(clients) != 1 || clients[0].LogicalID != "ConsoleUserPoolClient" {
		t.Fatalf("app clients %v, want only ConsoleUserPoolClient", clients)
	}
	p := clients[0].Properties
	if !p.Get("UserPoolId").Points("ConsoleUserPool") {
		t.Errorf("UserPoolId = %s, want !Ref ConsoleUserPool", p.Get("UserPoolId"))
	}
	// The authorization code grant only; a public client: no secret, so the
	// console must use PKCE.
	if f := literals(p.Get("AllowedOAuthFlows")); !slices.Equal(f, []string{"code"}) {
		t.Errorf("AllowedOAuthFlows = %q, want [code] only", f)
	}
	if on, err := p.Get("AllowedOAuthFlowsUserPoolClient").Bool(); err != nil || !on {
		t.Errorf("AllowedOAuthFlowsUserPoolClient = %s, want true", p.Get("AllowedOAuthFlowsUserPoolClient"))
	}
	if g := p.Get("GenerateSecret"); !g.IsZero() {
		if on, err := g.Bool(); err != nil || on {
			t.Errorf("GenerateSecret = %s, want false or absent (a public client)", g)
		}
	}
	scopes := literals(p.Get("AllowedOAuthScopes"))
	slices.Sort(scopes)
	if !slices.Equal(scopes, []string{"email", "openid", "profile"}) {
		t.Errorf("AllowedOAuthScopes = %q, want openid email profile", scopes)
	}
	if idp := literals(p.Get("SupportedIdentityProviders")); !slices.Equal(idp, []string{"COGNITO"}) {
		t.Errorf("SupportedIdentityProviders = %q, want [COGNITO]", idp)
	}
	for _, c := range []struct{ key, path string }{
		{"CallbackURLs", "/console/auth/callback"},
		{"LogoutURLs", "/console/signin"},
	} {
		urls := p.Get(c.key).Items()
		if len(urls) != 1 || urls[0].String() != `!Sub "`+consoleAPIBase+c.path+`"` {
			t.Errorf("%s = %s, want only !Sub %s%s", c.key, p.Get(c.key), consoleAPIBase, c.path)
		}
	}
	for _, f := range literals(p.Get("ExplicitAuthFlows")) {
		switch f {
		case "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH":
		default:
			t.Errorf("ExplicitAuthFlows has %s; the console signs in through the hosted UI only", f)
		}
	}
	// The console's session lasts as long as the ID token, and at most 12 h.
	n, err := p.Get("IdTokenValidity").Int()
	unit, _ := p.Get("TokenValidityUnits", "IdToken").Literal()
	if err != nil || !(unit == "hours" && n <= 12 || unit == "minutes" && n <= 12*60) {
		t.Errorf("IdTokenValidity = %s %s, want at most 12 hours", p.Get("IdTokenValidity"), unit)
	}

	groups := map[string]bool{}
	for _, g := range s.ResourcesOfType("AWS::Cognito::UserPoolGroup") {
		name, _ := g.Properties.Get("GroupName").Literal()
		if !g.Properties.Get("UserPoolId").Points("ConsoleUserPool") {
			t.Errorf("group %s: UserPoolId = %s, want !Ref ConsoleUserPool", g.LogicalID, g.Properties.Get("UserPoolId"))
		}
		groups[name] = true
	}
	if len(groups) != 2 || !groups["operators"] || !groups["viewers"] {
		t.Errorf("groups %v, want operators and viewers (internal/console reads cognito:groups)", groups)
	}
}

// TestConsoleWiring: AdminFunction knows the pool, the hosted UI and the
// console's secret, may read that one secret, and does not refer to the app
// client or the secret, which would close the cycle client → HttpApi (the
// callback URL) → AdminFunction (the routes) → client.
func TestConsoleWiring(t *testing.T) {
	t.Parallel()
	s := loadTemplate(t)
	admin := mustFunction(t, s, "AdminFunction")
	for _, name := range consoleEnv {
		if _, ok := admin.Env[name]; !ok {
			t.Errorf("AdminFunction: no environment variable %s", name)
		}
	}
	if v := admin.Env["COGNITO_ISSUER"]; !slices.ContainsFunc(v.References(), func(r Reference) bool { return r.Name == "ConsoleUserPool" }) {
		t.Errorf("COGNITO_ISSUER = %s, want the issuer URL of ConsoleUserPool", v)
	}
	if v := admin.Env["COGNITO_DOMAIN"]; !slices.ContainsFunc(v.References(), func(r Reference) bool { return r.Name == "ConsoleUserPoolDomain" }) {
		t.Errorf("COGNITO_DOMAIN = %s, want the hosted UI of ConsoleUserPoolDomain", v)
	}

	client := mustResource(t, s, "ConsoleUserPoolClient", "AWS::Cognito::UserPoolClient")
	if !slices.ContainsFunc(client.Properties.References(), func(r Reference) bool { return r.Name == "HttpApi" }) {
		t.Error("ConsoleUserPoolClient no longer names HttpApi; if the cycle is gone, COGNITO_CLIENT_ID can be an environment variable again")
	}
	for _, r := range admin.Properties.References() {
		if r.Name == "ConsoleUserPoolClient" || r.Name == "ConsoleSecret" {
			t.Errorf("AdminFunction refers to %s: a dependency cycle through HttpApi (name ConsoleSecret by CONSOLE_SECRET_ID instead)", r)
		}
	}

	sec := mustResource(t, s, "ConsoleSecret", secretType).Properties
	if got := sec.Get("Name").String(); got != "!Sub "+consoleSecretName {
		t.Errorf("ConsoleSecret.Name = %s, want !Sub %s (what CONSOLE_SECRET_ID and the IAM statement name)", got, consoleSecretName)
	}
	gen := sec.Get("GenerateSecretString")
	tmpl := gen.Get("SecretStringTemplate")
	if tmpl.Tag != "!Sub" || !strings.Contains(tmpl.Scalar, `"clientId":"${ConsoleUserPoolClient}"`) {
		t.Errorf("ConsoleSecret SecretStringTemplate = %s, want the JSON {\"clientId\": ${ConsoleUserPoolClient}}", tmpl)
	}
	if k, _ := gen.Get("GenerateStringKey").Literal(); k != "sessionKey" {
		t.Errorf("ConsoleSecret GenerateStringKey = %q, want sessionKey", k)
	}
	if n, err := gen.Get("PasswordLength").Int(); err != nil || n < 32 {
		t.Errorf("ConsoleSecret PasswordLength = %s, want at least 32 (the session HMAC key)", gen.Get("PasswordLength"))
	}

	arn := consoleSecretARN
	found := false
	for _, st := range admin.Statements {
		for _, r := range st.Resources {
			if r.String() != arn {
				continue
			}
			found = true
			if st.Effect != "Allow" || !slices.Equal(st.Actions, []string{"secretsmanager:GetSecretValue"}) || len(st.Resources) != 1 {
				t.Errorf("AdminFunction (line %d): %s %q on the console's secret; want only Allow secretsmanager:GetSecretValue", st.Line, st.Effect, st.Actions)
			}
		}
	}
	if !found {
		t.Errorf("AdminFunction: no statement on %s", arn)
	}
	for _, f := range s.Functions {
		if f.LogicalID == "AdminFunction" {
			continue
		}
		for _, st := range f.Statements {
			for _, r := range st.Resources {
				if r.String() == arn {
					t.Errorf("%s (line %d) may touch the console's secret", f.LogicalID, st.Line)
				}
			}
		}
	}
}
