package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/credential"
	"github.com/sluicehq/sluice/internal/egress"
	"github.com/sluicehq/sluice/internal/store"
)

// credentials builds the expiring credentials of destinations with a
// credential block, one per destination, kept across config generations
// while the block is unchanged (so the token in memory survives a reload).
type credentials struct {
	st   store.Credentials
	now  func() time.Time
	mu   sync.Mutex
	seal *credential.Sealer
	by   map[string]credEntry
}

type credEntry struct {
	spec config.Credential
	typ  string
	src  *credential.Source
}

// params is the connector.Params of destination name, with its credential.
func (cs *credentials) params(name string, dc config.Destination) (connector.Params, error) {
	p := connector.Params{Name: name, Options: dc.Options, AllowPrivateNetwork: dc.AllowPrivateNetwork}
	if dc.Credential == nil {
		return p, nil
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if e, ok := cs.by[name]; ok && e.typ == dc.Type && equalCredential(e.spec, *dc.Credential) {
		p.Credential = e.src
		return p, nil
	}
	if cs.st == nil {
		return p, errors.New("credential: the store does not keep credentials")
	}
	if cs.seal == nil {
		seal, err := credential.SealerFromEnv(nil)
		if err != nil {
			return p, err
		}
		cs.seal = seal
	}
	client, _ := connector.HTTPClient(name+" token endpoint", egress.For("destination "+name+" token endpoint", dc.AllowPrivateNetwork))
	client.Timeout = 30 * time.Second
	src, err := credential.New(credential.Options{Name: name, Type: dc.Type, Spec: *dc.Credential, Store: cs.st, Sealer: cs.seal, HTTPClient: client, Now: cs.now})
	if err != nil {
		return p, err
	}
	if cs.by == nil {
		cs.by = map[string]credEntry{}
	}
	cs.by[name] = credEntry{spec: *dc.Credential, typ: dc.Type, src: src}
	p.Credential = src
	return p, nil
}

func equalCredential(a, b config.Credential) bool {
	return fmt.Sprintf("%#v", a) == fmt.Sprintf("%#v", b)
}

// unopened stands in for a credential where none is opened (`sluice
// check`): connectors accept the options, and nothing is requested.
type unopened struct{}

func (unopened) Token(context.Context) (string, error) {
	return "", &connector.Error{Class: connector.Retryable, Message: "credential not opened (check only)"}
}

func (unopened) Rejected(context.Context, string) (string, error) {
	return "", &connector.Error{Class: connector.Retryable, Message: "credential not opened (check only)"}
}

// CredentialStatus lists the stored credentials (kind, expiry, last
// refresh, failure; never a secret), for the admin API and `sluice
// credentials`.
func CredentialStatus(ctx context.Context, drv store.Driver) ([]credential.Status, error) {
	st, ok := drv.(store.Credentials)
	if !ok {
		return nil, errors.New("this store does not keep credentials")
	}
	return credential.List(ctx, st)
}
