package partner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// SecretStore reads and writes a partner's secrets.
type SecretStore interface {
	GetSecrets(ctx context.Context, partnerID string) (Secrets, error)
	PutSecrets(ctx context.Context, partnerID string, s Secrets) error
}

// SecretsManager keeps one secret per partner, named Prefix + partner id,
// whose value is the JSON of Secrets.
type SecretsManager struct {
	Client *secretsmanager.Client
	Prefix string
}

// GetSecrets reads the partner's secret; a missing secret matches ErrNotFound.
func (m *SecretsManager) GetSecrets(ctx context.Context, partnerID string) (Secrets, error) {
	out, err := m.Client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(m.Prefix + partnerID)})
	var nf *smtypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		return Secrets{}, fmt.Errorf("secrets of partner %s: %w", partnerID, ErrNotFound)
	}
	if err != nil {
		return Secrets{}, fmt.Errorf("read secrets of partner %s: %w", partnerID, err)
	}
	var s Secrets
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &s); err != nil {
		return Secrets{}, fmt.Errorf("secrets of partner %s are not the expected JSON: %w", partnerID, err)
	}
	return s, nil
}

// PutSecrets writes the partner's secret, creating it the first time.
func (m *SecretsManager) PutSecrets(ctx context.Context, partnerID string, s Secrets) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode secrets: %w", err)
	}
	id := m.Prefix + partnerID
	_, err = m.Client.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(id), SecretString: aws.String(string(b))})
	var nf *smtypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		_, err = m.Client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
			Name:         aws.String(id),
			SecretString: aws.String(string(b)),
			Description:  aws.String("ConnectWise keys and webhook signing secrets of partner " + partnerID),
		})
	}
	if err != nil {
		return fmt.Errorf("write secrets of partner %s: %w", partnerID, err)
	}
	return nil
}

// LocalSecretsFile is the local stand-in for Secrets Manager used by `make
// run` and tests: a plain JSON file, plainly marked as local. Never use it in
// a deployment.
type LocalSecretsFile struct {
	Path string
	mu   sync.Mutex
}

type localSecretsDoc struct {
	Warning  string             `json:"WARNING"`
	Partners map[string]Secrets `json:"partners"`
}

const localWarning = "LOCAL DEVELOPMENT ONLY: plain-text secrets for the local stack. Deployed functions use AWS Secrets Manager."

func (f *LocalSecretsFile) load() (localSecretsDoc, error) {
	doc := localSecretsDoc{Partners: map[string]Secrets{}}
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		return doc, nil
	}
	if err != nil {
		return doc, fmt.Errorf("read local secrets file: %w", err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return doc, fmt.Errorf("local secrets file %s: %w", f.Path, err)
	}
	if doc.Partners == nil {
		doc.Partners = map[string]Secrets{}
	}
	return doc, nil
}

// GetSecrets reads the partner's secrets from the file.
func (f *LocalSecretsFile) GetSecrets(_ context.Context, partnerID string) (Secrets, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	doc, err := f.load()
	if err != nil {
		return Secrets{}, err
	}
	s, ok := doc.Partners[partnerID]
	if !ok {
		return Secrets{}, fmt.Errorf("secrets of partner %s: %w", partnerID, ErrNotFound)
	}
	return s, nil
}

// PutSecrets writes the partner's secrets to the file (mode 0600).
func (f *LocalSecretsFile) PutSecrets(_ context.Context, partnerID string, s Secrets) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	doc, err := f.load()
	if err != nil {
		return err
	}
	doc.Warning = localWarning
	doc.Partners[partnerID] = s
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("encode local secrets: %w", err)
	}
	tmp := f.Path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write local secrets: %w", err)
	}
	if err := os.Rename(tmp, f.Path); err != nil {
		return fmt.Errorf("write local secrets: %w", err)
	}
	return nil
}

// CachedSecrets keeps secrets in memory for TTL so that a warm Lambda does not
// call Secrets Manager on every request. Rotation takes effect within TTL
// in the other functions; in this one, PutSecrets takes effect at once.
type CachedSecrets struct {
	Store SecretStore
	TTL   time.Duration
	Now   func() time.Time

	mu      sync.Mutex
	entries map[string]cachedSecret
	// puts counts the PutSecrets of each partner: a read that a write
	// overtook does not cache what it read.
	puts map[string]uint64
}

type cachedSecret struct {
	s   Secrets
	exp time.Time
}

// GetSecrets returns the cached secrets or reads them through.
func (c *CachedSecrets) GetSecrets(ctx context.Context, partnerID string) (Secrets, error) {
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	c.mu.Lock()
	e, ok := c.entries[partnerID]
	gen := c.puts[partnerID]
	c.mu.Unlock()
	if ok && now.Before(e.exp) {
		return e.s, nil
	}
	s, err := c.Store.GetSecrets(ctx, partnerID)
	if err != nil {
		return Secrets{}, err
	}
	c.mu.Lock()
	if c.puts[partnerID] == gen { // no write began since the read did
		if c.entries == nil {
			c.entries = map[string]cachedSecret{}
		}
		c.entries[partnerID] = cachedSecret{s: s, exp: now.Add(c.TTL)}
	}
	c.mu.Unlock()
	return s, nil
}

// PutSecrets writes through and forgets the cached copy, so that this
// function's next read sees what was written (or, if the write failed,
// whatever the store holds). A read that was under way when the write began
// returns what it read but does not cache it.
func (c *CachedSecrets) PutSecrets(ctx context.Context, partnerID string, s Secrets) error {
	c.forget(partnerID)
	err := c.Store.PutSecrets(ctx, partnerID, s)
	c.forget(partnerID)
	return err
}

// Forget drops the partner's cached secrets: the next read goes to the
// store (a probe after new keys were saved, or keys ConnectWise refused).
func (c *CachedSecrets) Forget(partnerID string) { c.forget(partnerID) }

func (c *CachedSecrets) forget(partnerID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, partnerID)
	if c.puts == nil {
		c.puts = map[string]uint64{}
	}
	c.puts[partnerID]++
}

// WebhookSecrets gives the webhook its signing secrets for a partner.
func (c *CachedSecrets) WebhookSecrets(ctx context.Context, partnerID string) ([]string, error) {
	s, err := c.GetSecrets(ctx, partnerID)
	if err != nil {
		return nil, err
	}
	return s.WebhookSecrets, nil
}
