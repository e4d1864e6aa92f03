package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

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
