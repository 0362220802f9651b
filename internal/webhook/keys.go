package webhook

import (
	"sync"

	"github.com/efs-cw/backupbridge/internal/partner"
)

// maxCachedKeys bounds the key cache: past it the cache is emptied and fills
// again (a webhook serves a few partners with one or two secrets each).
const maxCachedKeys = 256

// keyCache keeps the keys of the stored secrets ("whsec_…") already decoded,
// by the stored string, so that a request does not decode its partner's
// secrets again. Only usable secrets are kept: a partner with an unusable one
// goes through partner.UsableWebhookSecrets every time, which names the
// problem. The zero value is ready to use.
type keyCache struct {
	mu   sync.RWMutex
	keys map[string][]byte
}

// usable is partner.UsableWebhookSecrets(stored), from the cache when it
// holds every secret. The keys returned must not be modified.
func (c *keyCache) usable(stored []string) (keys [][]byte, problem error) {
	keys = make([][]byte, 0, len(stored))
	c.mu.RLock()
	for _, s := range stored {
		k, ok := c.keys[s]
		if !ok {
			break
		}
		keys = append(keys, k)
	}
	c.mu.RUnlock()
	if len(keys) == len(stored) && len(keys) > 0 {
		return keys, nil
	}
	keys, problem = partner.UsableWebhookSecrets(stored)
	if problem != nil {
		return keys, problem
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil || len(c.keys)+len(stored) > maxCachedKeys {
		c.keys = make(map[string][]byte, len(stored))
	}
	for i, s := range stored {
		c.keys[s] = keys[i]
	}
	return keys, nil
}
