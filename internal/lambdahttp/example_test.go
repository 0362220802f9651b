package lambdahttp_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/aws/aws-lambda-go/events"

	"github.com/efs-cw/backupbridge/internal/lambdahttp"
)

func ExampleHandler() {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/partners/{partnerId}/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"partner":%q,"signature":%q}`, r.PathValue("partnerId"), r.Header.Get("Webhook-Signature"))
	})
	handler := lambdahttp.Handler(mux) // a function's main: lambda.Start(handler)

	resp, _ := handler(context.Background(), events.APIGatewayV2HTTPRequest{
		RouteKey: "POST /v1/partners/{partnerId}/events",
		RawPath:  "/v1/partners/demo/events",
		Headers:  map[string]string{"content-type": "application/json", "webhook-signature": "v1,c2lnbmF0dXJl"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST"},
		},
		Body: `{}`,
	})
	fmt.Println(resp.StatusCode, resp.Headers["Content-Type"], resp.Body)
	// Output: 202 application/json {"partner":"demo","signature":"v1,c2lnbmF0dXJl"}
}
