package admin

import (
	"context"
	"errors"
	"net"
	"net/http"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/tickets"
)

// The partner's ConnectWise callback (package callback):
//
//	POST   …/callbacks  register it (or refresh it: new token, current board)
//	GET    …/callbacks  its registration and what is wrong with it
//	DELETE …/callbacks  delete it in ConnectWise and here
//
// The callback URL is CallbackBaseURL, or the address this request came to
// (API Gateway's domain: the webhook and the operator API share it).
// Partner setup (POST …/partners) registers it too, and an update that
// sets or changes the board registers it (again); neither fails when
// ConnectWise cannot be reached (the answer says so, and the doctor
// reports it).

func (a *API) baseURL(r *http.Request) string {
	if a.CallbackBaseURL != "" {
		return a.CallbackBaseURL
	}
	if r.Host == "" {
		return "" // an in-process call with no address: nothing to register
	}
	scheme := "https"
	if host, _, err := net.SplitHostPort(r.Host); err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			scheme = "http" // the local stack
		}
	}
	return scheme + "://" + r.Host
}

// callbackTarget reads the partner's client and board id.
func (a *API) callbackTarget(ctx context.Context, id string) (*connectwise.Client, int, *response) {
	if a.Callbacks == nil {
		r := a.internal(ctx, errors.New("admin: no callback store"))
		return nil, 0, &r
	}
	p, resp := a.lookup(ctx, id)
	if resp != nil {
		return nil, 0, resp
	}
	s, found, err := a.secrets(ctx, id)
	if err != nil {
		r := a.internal(ctx, err)
		return nil, 0, &r
	}
	if !found {
		r := reply(http.StatusConflict, errBody(noKeys.Problem, noKeys.Setting))
		return nil, 0, &r
	}
	cw, prob := a.client(ctx, p, s)
	if prob != nil {
		r := reply(http.StatusConflict, errBody(prob.Problem, prob.Setting))
		return nil, 0, &r
	}
	board, err := (&tickets.Boards{}).Configured(ctx, cw, p)
	if err != nil {
		r := reply(http.StatusBadGateway, errBody("the partner's board could not be read from ConnectWise: "+cwText(err), "board"))
		return nil, 0, &r
	}
	return cw, board.ID, nil
}

func (a *API) registerCallback(r *http.Request, id string) response {
	did, fail := a.register(r, id)
	if fail != nil {
		return *fail
	}
	return reply(http.StatusOK, map[string]any{"status": did})
}

// register registers (or refreshes) the partner's callback and says what
// it did, or answers why not.
func (a *API) register(r *http.Request, id string) (string, *response) {
	ctx := r.Context()
	if a.baseURL(r) == "" {
		fail := reply(http.StatusConflict, errBody("the service's public address is unknown (the request had no host): register the callback through the operator API", ""))
		return "", &fail
	}
	cw, boardID, fail := a.callbackTarget(ctx, id)
	if fail != nil {
		return "", fail
	}
	did, err := a.Callbacks.Register(context.WithoutCancel(ctx), cw, id, boardID, a.baseURL(r), a.now())
	if err != nil {
		f := reply(http.StatusBadGateway, errBody("ConnectWise refused or failed the callback registration: "+cwText(err), ""))
		return "", &f
	}
	return did, nil
}

func (a *API) callbackStatus(r *http.Request, id string) response {
	ctx := r.Context()
	cw, boardID, resp := a.callbackTarget(ctx, id)
	if resp != nil {
		return *resp
	}
	reg, found, err := a.Callbacks.Get(ctx, id)
	if err != nil {
		return a.internal(ctx, err)
	}
	problems, err := a.Callbacks.Check(ctx, cw, id, boardID, "")
	if err != nil {
		return reply(http.StatusBadGateway, errBody(cwText(err), ""))
	}
	out := map[string]any{"registered": found, "ok": len(problems) == 0, "problems": append([]string{}, problems...)}
	if found {
		out["callbackId"], out["boardId"], out["url"], out["registeredAt"] = reg.CallbackID, reg.BoardID, reg.URLPrefix+"…", reg.RegisteredAt
	}
	return reply(http.StatusOK, out)
}

func (a *API) unregisterCallback(r *http.Request, id string) response {
	ctx := r.Context()
	cw, _, resp := a.callbackTarget(ctx, id)
	if resp != nil {
		return *resp
	}
	n, err := a.Callbacks.Unregister(context.WithoutCancel(ctx), cw, id, a.baseURL(r))
	if err != nil {
		return reply(http.StatusBadGateway, errBody(cwText(err), ""))
	}
	return reply(http.StatusOK, map[string]any{"deleted": n})
}

// autoRegister registers the partner's callback after setup or a board
// change; it never fails the request: it says what happened.
func (a *API) autoRegister(r *http.Request, id string) string {
	if a.Callbacks == nil {
		return ""
	}
	did, fail := a.register(r, id)
	if fail == nil {
		return did
	}
	if b, ok := fail.body.(map[string]string); ok {
		return "not registered: " + b["error"] + " (POST …/callbacks to try again)"
	}
	return "not registered (POST …/callbacks to try again)"
}

// callbackProblems is the doctor's check of the registration.
func (a *API) callbackProblems(ctx context.Context, cw *connectwise.Client, p *partner.Partner, boardID int) []Problem {
	if a.Callbacks == nil {
		return nil
	}
	ps, err := a.Callbacks.Check(ctx, cw, p.ID, boardID, "")
	if err != nil {
		return []Problem{{"callbacks", "the ConnectWise callback could not be checked: " + cwText(err)}}
	}
	var out []Problem
	for _, s := range ps {
		out = append(out, Problem{"callbacks", s})
	}
	return out
}
