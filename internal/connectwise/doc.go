// Package connectwise is a client for the ConnectWise PSA (Manage) REST API
// 3.0, shaped like google/go-github: one Client with a service per area
// (Tickets, Companies, Boards, Agreements, Catalog, Configurations,
// Callbacks), every method building a path, calling NewRequest and then Do.
//
// # Connection
//
// Requests go to {site}/{codebase}apis/3.0/ over https only. Every request
// carries Basic auth built from the company ID and the API member's keys (or
// a legacy integrator login), the clientId header and an Accept header that
// pins the model version (Options.APIVersion, default 2025.1). When no
// codebase is configured it is looked up once at NewClient with
// LookupCompanyInfo, and looked up again once if a later call answers 404
// with a body that is not a ConnectWise error (the codebase moved).
//
// NewHTTPClient builds every HTTP client that talks to ConnectWise. It
// refuses every redirect (ConnectWise never redirects an API call, and
// following one would send the credentials elsewhere), every request that is
// not https, and every address its SitePolicy refuses, on the URL's host and
// again at dial time on the addresses a name resolves to: loopback only
// with the development switch SitePolicy.AllowLoopback; private, link-local
// (cloud metadata), shared, multicast and unspecified addresses never.
// CheckSiteURL applies the same policy to a site URL an operator enters.
// NewClient sends through a copy of whatever client it is given that
// refuses redirects and plain http.
//
// # Errors
//
// CheckResponse turns every non-2xx answer into an *Error (ConnectWise's own
// JSON error message, cleaned of control and format characters and cut to
// 200 characters; any other body, such as a proxy's HTML page, is never
// shown, only its HTTP status) or, for 429, a *RateLimitError carrying
// RetryAfter. Match kinds with errors.Is against
// ErrNotFound, ErrUnauthorized, ErrRateLimited and ErrServer, or ask
// IsTransient / IsPermanent what the caller should do next. No error text
// ever contains the credentials.
//
// # Text
//
// CleanText and CleanLine remove control and format characters (bidi
// overrides, zero-width characters, NUL, ...) from text sent to ConnectWise;
// Truncate cuts it to a length as ConnectWise counts it (TextLen: UTF-16
// code units).
//
// # Retries
//
// Do retries by RetryPolicy with full-jitter backoff (see Backoff): GET, PUT,
// PATCH and DELETE (and the read-only Tickets.Search) on transient errors,
// any other POST only on 429 (ConnectWise refused it, so nothing was
// created). A POST that failed with 5xx or a timeout is never repeated: the
// record may exist, and the caller must look it up first. A server's
// Retry-After is always waited out in full, but a wait that would end after
// the context deadline is not started: Do returns the last error, from which
// RetryAfter still reads the server's wait.
//
// # Callbacks
//
// Callbacks registers ConnectWise's webhooks (/system/callbacks). ConnectWise
// POSTs a CallbackPayload to the callback's URL when a watched record is
// added, updated or deleted, signed in the CallbackSignatureHeader header;
// VerifyCallback checks that signature against the raw body with the
// signing key served at the payload's Metadata.KeyURL (fetch it only from
// your own ConnectWise site), and SignCallback makes one. Decoding a
// CallbackPayload accepts the number-or-string variations ConnectWise
// sends.
//
// # Conditions
//
// Build and the Condition constructors (Eq, Contains, LikePrefix, In, And,
// ...) turn untrusted values into a ConnectWise conditions string, refusing
// any value that could close its quotes and add a clause.
package connectwise
