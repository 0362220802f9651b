// Package callback makes the service listen to ConnectWise: it registers a
// ConnectWise callback per partner (Register, Unregister, Check) and
// receives what ConnectWise posts to it (Handler), so that a ticket a person
// closed, reopened, merged or deleted is known within seconds instead of at
// the next failure.
//
// Registration. One callback per partner on ConnectWise's /system/callbacks:
// type Ticket, level Board, objectId = the partner's configured board, url =
// <base>/v1/partners/<partner>/callbacks/<token>. The token is 32 random
// bytes, unguessable, made at each registration; the service keeps only its
// SHA-256 (item CALLBACK#<partner> / REG, with the callback's id, board and
// URL without the token), so the token exists only in the URL ConnectWise
// holds. A ticket moved off the board is reported once more (the move
// itself) and stays tracked by id (package tickets); later changes on the
// other board are not reported, and the next failure finds them as before.
//
// Receiving. See Handler: token, then ConnectWise's content signature when
// the site sends one (x-content-signature, an HMAC-SHA256 of the body under
// a key fetched from the payload's key_url, only from the partner's own
// site host), then a queue message; the worker re-reads the ticket from
// ConnectWise (tickets.Service.TicketChanged) and trusts nothing else of the
// body.
package callback

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/table"
)

// Path is the callback endpoint; Route its ServeMux pattern.
const (
	Path  = "/v1/partners/{partnerId}/callbacks/{token}"
	Route = "POST " + Path
)

// Registration is what the service keeps of a partner's callback.
type Registration struct {
	PartnerID  string `json:"partnerId"`
	CallbackID int    `json:"callbackId"`
	BoardID    int    `json:"boardId"`
	// URLPrefix is the callback URL without its token.
	URLPrefix    string    `json:"urlPrefix"`
	TokenHash    string    `json:"tokenHash"`
	RegisteredAt time.Time `json:"registeredAt"`
	// Signed is set at the first callback whose signature verified: from
	// then on, an unsigned callback for this partner is refused (its site
	// signs, so an unsigned one is forged).
	Signed bool `json:"signed,omitempty"`
}

// markSigned records that the partner's site signs its callbacks (once).
func (s *Store) markSigned(ctx context.Context, partnerID string) error {
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       table.Key("CALLBACK#"+partnerID, "REG"),
		UpdateExpression:          aws.String("SET signed = :t"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}},
	})
	if err != nil && !table.IsConditionFailed(err) {
		return fmt.Errorf("record that %s's site signs its callbacks: %w", partnerID, err)
	}
	return nil
}

// Store keeps registrations in the service's table.
type Store struct {
	DB    *dynamodb.Client
	Table string
}

// Get reads a partner's registration (found false when it has none).
func (s *Store) Get(ctx context.Context, partnerID string) (Registration, bool, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.Table), Key: table.Key("CALLBACK#"+partnerID, "REG")})
	if err != nil {
		return Registration{}, false, fmt.Errorf("read the callback registration of %s: %w", partnerID, err)
	}
	if len(out.Item) == 0 {
		return Registration{}, false, nil
	}
	var r Registration
	if err := attributevalue.UnmarshalMapWithOptions(out.Item, &r, func(o *attributevalue.DecoderOptions) { o.TagKey = "json" }); err != nil {
		return Registration{}, false, fmt.Errorf("decode the callback registration of %s: %w", partnerID, err)
	}
	return r, true, nil
}

func (s *Store) put(ctx context.Context, r Registration) error {
	item, err := attributevalue.MarshalMapWithOptions(r, func(o *attributevalue.EncoderOptions) { o.TagKey = "json" })
	if err != nil {
		return err
	}
	item[table.PK], item[table.SK] = table.S("CALLBACK#"+r.PartnerID), table.S("REG")
	if _, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Table), Item: item}); err != nil {
		return fmt.Errorf("record the callback registration of %s: %w", r.PartnerID, err)
	}
	return nil
}

func (s *Store) delete(ctx context.Context, partnerID string) error {
	_, err := s.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.Table), Key: table.Key("CALLBACK#"+partnerID, "REG")})
	if err != nil {
		return fmt.Errorf("delete the callback registration of %s: %w", partnerID, err)
	}
	return nil
}

// TokenMatches compares a presented token with the registration's, in
// constant time.
func (r Registration) TokenMatches(token string) bool {
	sum := sha256.Sum256([]byte(token))
	want, err := hex.DecodeString(r.TokenHash)
	return err == nil && len(want) == len(sum) && subtle.ConstantTimeCompare(sum[:], want) == 1
}

// URLPrefix is a partner's callback URL without its token.
func URLPrefix(baseURL, partnerID string) string {
	return strings.TrimRight(baseURL, "/") + "/v1/partners/" + partnerID + "/callbacks/"
}

// Register makes sure ConnectWise has one active callback for the partner's
// board pointing at this service with a token the service knows: it
// creates it, or updates the one that points here (new token, board,
// reactivated), and deletes any other that points at this partner's
// endpoint. It returns what it did, in words.
func (s *Store) Register(ctx context.Context, cw *connectwise.Client, partnerID string, boardID int, baseURL string, now time.Time) (string, error) {
	prefix := URLPrefix(baseURL, partnerID)
	var tok [32]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return "", err
	}
	token := hex.EncodeToString(tok[:])
	sum := sha256.Sum256([]byte(token))
	want := connectwise.Callback{
		Description: "backupbridge: ticket changes on the backup board of partner " + partnerID,
		URL:         prefix + token, ObjectID: boardID, Type: connectwise.CallbackTypeTicket, Level: connectwise.CallbackLevelBoard,
	}
	if len(want.Description) > 100 {
		want.Description = want.Description[:100]
	}
	ours, err := s.ours(ctx, cw, prefix)
	if err != nil {
		return "", err
	}
	did := ""
	var saved *connectwise.Callback
	if len(ours) > 0 {
		want.ID = ours[0].ID
		if saved, _, err = cw.Callbacks.Update(ctx, &want); err != nil {
			return "", fmt.Errorf("update ConnectWise callback %d: %w", want.ID, err)
		}
		did = fmt.Sprintf("updated ConnectWise callback %d (board %d, new token)", saved.ID, boardID)
		for _, extra := range ours[1:] {
			if _, err := cw.Callbacks.Delete(ctx, extra.ID); err != nil && !errors.Is(err, connectwise.ErrNotFound) {
				return "", fmt.Errorf("delete duplicate ConnectWise callback %d: %w", extra.ID, err)
			}
		}
	} else {
		if saved, _, err = cw.Callbacks.Create(ctx, &want); err != nil {
			return "", fmt.Errorf("register the ConnectWise callback: %w", err)
		}
		did = fmt.Sprintf("registered ConnectWise callback %d (ticket changes on board %d)", saved.ID, boardID)
	}
	prev, _, err := s.Get(ctx, partnerID)
	if err != nil {
		return "", err
	}
	err = s.put(ctx, Registration{PartnerID: partnerID, CallbackID: saved.ID, BoardID: boardID, URLPrefix: prefix,
		TokenHash: hex.EncodeToString(sum[:]), RegisteredAt: now.UTC(), Signed: prev.Signed})
	return did, err
}

// Unregister deletes the partner's callbacks in ConnectWise and its
// registration.
func (s *Store) Unregister(ctx context.Context, cw *connectwise.Client, partnerID, baseURL string) (int, error) {
	prefixes := []string{URLPrefix(baseURL, partnerID)}
	if r, found, err := s.Get(ctx, partnerID); err != nil {
		return 0, err
	} else if found && r.URLPrefix != prefixes[0] {
		prefixes = append(prefixes, r.URLPrefix)
	}
	n := 0
	for _, prefix := range prefixes {
		ours, err := s.ours(ctx, cw, prefix)
		if err != nil {
			return n, err
		}
		for _, c := range ours {
			if _, err := cw.Callbacks.Delete(ctx, c.ID); err != nil && !errors.Is(err, connectwise.ErrNotFound) {
				return n, fmt.Errorf("delete ConnectWise callback %d: %w", c.ID, err)
			}
			n++
		}
	}
	return n, s.delete(ctx, partnerID)
}

// ours lists the site's callbacks whose URL starts with prefix.
func (s *Store) ours(ctx context.Context, cw *connectwise.Client, prefix string) ([]connectwise.Callback, error) {
	var out []connectwise.Callback
	for c, err := range cw.Callbacks.All(ctx, connectwise.ListOptions{}) {
		if err != nil {
			return nil, fmt.Errorf("list the ConnectWise callbacks: %w", err)
		}
		if strings.HasPrefix(c.URL, prefix) {
			out = append(out, c)
		}
	}
	return out, nil
}

// Check reports what is wrong with a partner's registration, in words
// (none: nothing): missing, deleted or inactive in ConnectWise, on another
// board, or pointing at another URL or token.
func (s *Store) Check(ctx context.Context, cw *connectwise.Client, partnerID string, boardID int, baseURL string) ([]string, error) {
	r, found, err := s.Get(ctx, partnerID)
	if err != nil {
		return nil, err
	}
	if !found {
		return []string{"no ConnectWise callback is registered: ticket changes by a person are noticed only at the next failure (POST …/callbacks registers it)"}, nil
	}
	c, _, err := cw.Callbacks.Get(ctx, r.CallbackID)
	if errors.Is(err, connectwise.ErrNotFound) {
		return []string{fmt.Sprintf("ConnectWise callback %d was deleted in ConnectWise: register it again (POST …/callbacks)", r.CallbackID)}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read ConnectWise callback %d: %w", r.CallbackID, err)
	}
	var out []string
	if c.InactiveFlag {
		out = append(out, fmt.Sprintf("ConnectWise callback %d is inactive (ConnectWise disables a callback after three days of failed deliveries): register it again", c.ID))
	}
	if c.ObjectID != boardID || !strings.EqualFold(c.Level, connectwise.CallbackLevelBoard) {
		out = append(out, fmt.Sprintf("ConnectWise callback %d watches %s %d, not the partner's board %d: register it again", c.ID, c.Level, c.ObjectID, boardID))
	}
	token, ok := strings.CutPrefix(c.URL, URLPrefix(baseURL, partnerID))
	if baseURL == "" {
		token, ok = strings.CutPrefix(c.URL, r.URLPrefix)
	}
	if !ok || !r.TokenMatches(token) {
		out = append(out, fmt.Sprintf("ConnectWise callback %d points at another URL or an old token: register it again", c.ID))
	}
	return out, nil
}
