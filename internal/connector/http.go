package connector

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/internal/egress"
)

// HTTPClient is the client every HTTP connector sends through: each
// connection passes the egress guard of pol at connect time, and redirects
// are never followed (a redirect would carry the credentials to whatever
// host it names). The transport is returned too, so Close can release its
// idle connections. An empty pol.Subject becomes "destination <name>".
func HTTPClient(name string, pol egress.Policy) (*http.Client, *http.Transport) {
	if pol.Subject == "" {
		pol.Subject = "destination " + name
	}
	t := pol.Transport()
	t.MaxIdleConnsPerHost = 8
	return &http.Client{
		Transport:     t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, t
}

// CheckEndpoints judges the hosts of a destination's URL options (url and
// every *_url) by the egress guard without resolving names, so that
// `sluice check` names the destination whose simulator or internal URL
// needs allow_private_network before the first delivery is refused. An
// address literal, a legacy numeric form or "localhost" is judged; other
// names are judged at connect time, when they are resolved.
func CheckEndpoints(p Params) error {
	keys := make([]string, 0, len(p.Options))
	for k := range p.Options {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	guard := p.Egress()
	for _, k := range keys {
		raw, ok := p.Options[k].(string)
		if !ok || k != "url" && !strings.HasSuffix(k, "_url") {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil {
			continue // the connector reports malformed URLs itself
		}
		if err := guard.CheckHost(u.Hostname()); err != nil {
			return fmt.Errorf("options.%s: %w", k, err)
		}
	}
	return nil
}
