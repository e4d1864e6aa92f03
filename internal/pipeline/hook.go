package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/store"
)

// HookTokenReceived keeps a verification token a platform sent to a
// platform-webhook source (Notion's handshake) and audits its arrival. The
// audit names the token by a short fingerprint only: the token is the key
// later webhooks are signed with, shown to admins through the API alone.
// The handshake is unsigned, so anyone may send one; tokens are therefore
// never trusted by themselves (the operator copies the right one into
// platform.secrets) and never replaced, so a stranger's cannot hide
// Notion's.
func (g *Gate) HookTokenReceived(ctx context.Context, source, platform, token string) error {
	now := g.now()
	sum := sha256.Sum256([]byte(token))
	return g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		if err := tx.HookTokenAdd(ctx, &store.HookToken{Source: source, Platform: platform, Token: token, ReceivedAt: now}); err != nil {
			return err
		}
		return g.audit(ctx, tx, &store.AuditEntry{At: now, Actor: "webhook:" + source, Action: audit.ActionHookVerification, Outcome: "received",
			Message: fmt.Sprintf("%s sent source %s a verification token (sha256 %s…); read it with `sluice sources token %s`, paste it into %s and into platform.secrets",
				platform, source, hex.EncodeToString(sum[:4]), source, platform)})
	})
}

// HookTokens lists the verification tokens a source received, newest
// first.
func (g *Gate) HookTokens(ctx context.Context, source string) ([]store.HookToken, error) {
	return g.drv.Executor().HookTokenList(ctx, source)
}

// HookRefreshed audits a refresh of a platform webhook subscription (one
// that expires unless refreshed: Airtable's): its new expiry, or why it
// failed. The subscription itself lives at the platform; only the trail
// is Sluice's.
func (g *Gate) HookRefreshed(ctx context.Context, source, webhook string, expires time.Time, cause error) error {
	now := g.now()
	e := &store.AuditEntry{At: now, Actor: ActorSystem, Action: audit.ActionHookRefreshed, Outcome: "refreshed"}
	switch {
	case cause != nil:
		e.Action, e.Outcome = audit.ActionHookRefreshFailed, "failed"
		e.Message = fmt.Sprintf("refresh of webhook %s of source %s failed: %v", webhook, source, cause)
	case expires.IsZero():
		e.Message = fmt.Sprintf("webhook %s of source %s refreshed; the platform says it does not expire", webhook, source)
	default:
		e.Message = fmt.Sprintf("webhook %s of source %s refreshed; it expires at %s", webhook, source, expires.UTC().Format(time.RFC3339))
	}
	return g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error { return g.audit(ctx, tx, e) })
}
