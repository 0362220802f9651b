package partner

// The demo partner of the local stack and of the sample events in events/:
// events/apigw/*.json are signed with DemoWebhookSecret for partner
// DemoPartnerID (go run ./infra/signevents re-signs them at the current
// time). Both are public: never configure them for a deployed partner.
const (
	DemoPartnerID     = "demo"
	DemoWebhookSecret = "whsec_ZGVtby13ZWJob29rLXNlY3JldC1mb3ItbG9jYWwtdXNlLW9ubHk="
)
