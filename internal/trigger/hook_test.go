package trigger_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/pipeline/pipelinetest"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/trigger"
)

const hookCfg = `
sources:
  base: {platform: {kind: airtable, secrets: ["YWlydGFibGUtbWFjLXNlY3JldC0wMTIz"], destination: table, webhook_id: achX}}
entities:
  contact: {key: email}
flows:
  in:
    source: base
    entity: contact
    normalize:
      fields:
        email: {from: fields.Email, type: email}
    routes:
      out: {destination: sink}
destinations:
  table: {type: airtable}
  sink: {type: http, allow_private_network: true, options: {url: "http://127.0.0.1:1/x"}}
`

// payloadList plays Airtable's payload list: payload n (1-based) holds the
// records of payloads[n-1]; a page holds at most pageSize payloads.
type payloadList struct {
	payloads [][]string
	pageSize int
	reads    int
}

func (l *payloadList) HookOrigin() connector.Origin {
	return connector.Origin{Platform: "airtable", Object: "app/Contacts"}
}

func (l *payloadList) HookChanges(_ context.Context, webhook, cursor string) (connector.HookPage, error) {
	l.reads++
	start := 1
	if cursor != "" {
		start, _ = strconv.Atoi(cursor)
	}
	end := min(len(l.payloads)+1, start+l.pageSize)
	page := connector.HookPage{Cursor: strconv.Itoa(end), More: end <= len(l.payloads)}
	for n := start; n < end; n++ {
		recs := l.payloads[n-1]
		for i, email := range recs {
			c := connector.HookChange{Change: connector.Change{RecordID: "rec" + email, ModifiedAt: time.Unix(int64(n), 0),
				Fields: map[string]any{"Email": email}}, EventID: webhook + ":" + strconv.Itoa(n) + ":rec" + email, Cursor: strconv.Itoa(n)}
			if i == len(recs)-1 {
				c.Cursor = strconv.Itoa(n + 1)
			}
			page.Changes = append(page.Changes, c)
		}
	}
	return page, nil
}

// crashing fails the capture transaction of chosen calls, as a process
// killed between the read and the commit would: nothing of it commits.
type crashing struct {
	*pipeline.Gate
	calls  int
	failAt map[int]bool
}

func (c *crashing) CapturePolled(ctx context.Context, b pipeline.PollBatch) (pipeline.PollResult, error) {
	c.calls++
	if c.failAt[c.calls] {
		return pipeline.PollResult{}, errors.New("killed before commit")
	}
	return c.Gate.CapturePolled(ctx, b)
}

func hookGate(t *testing.T) (*pipeline.Gate, store.Driver) {
	t.Helper()
	e := pipelinetest.New(t, hookCfg)
	return e.Gate, e.Driver
}

// captured counts the source's events by record key.
func captured(t *testing.T, drv store.Driver) map[string]int {
	t.Helper()
	evs, err := drv.Executor().EventList(context.Background(), &store.EventListParams{Source: "base", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, ev := range evs {
		out[ev.RecordKey]++
	}
	return out
}

func fetcher(g trigger.Capturer, l connector.HookLister) *trigger.HookFetcher {
	return &trigger.HookFetcher{Source: "base", WebhookID: "achX", Platform: "airtable", Object: "app/Contacts",
		Lister: l, Gate: g, Interval: time.Hour, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// TestHookFetcherCrashNeitherSkipsNorRepeats: a listing killed between
// reading a page and committing it, at every page in turn, then run again
// by a fresh process, captures every record exactly once and ends at the
// cursor after the last payload.
func TestHookFetcherCrashNeitherSkipsNorRepeats(t *testing.T) {
	payloads := [][]string{{"a@x.co", "b@x.co"}, {"c@x.co"}, {"d@x.co", "e@x.co", "f@x.co"}, {"g@x.co"}, {"h@x.co"}}
	for crashAt := 1; crashAt <= 3; crashAt++ {
		t.Run("crash at page "+strconv.Itoa(crashAt), func(t *testing.T) {
			g, drv := hookGate(t)
			list := &payloadList{payloads: payloads, pageSize: 2}
			crash := &crashing{Gate: g, failAt: map[int]bool{crashAt: true}}
			if _, err := fetcher(crash, list).FetchOnce(context.Background()); err == nil {
				t.Fatal("the crashed listing reported no error")
			}
			before := captured(t, drv)
			for _, n := range before {
				if n != 1 {
					t.Fatalf("before restart: %v", before)
				}
			}
			// The restart: a new fetcher over the same store.
			res, err := fetcher(g, list).FetchOnce(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			got := captured(t, drv)
			if len(got) != 8 {
				t.Fatalf("captured %d records, want 8: %v", len(got), got)
			}
			for id, n := range got {
				if n != 1 {
					t.Fatalf("record %s captured %d times", id, n)
				}
			}
			if res.Captured != 8-len(before) || res.Duplicates != 0 {
				t.Fatalf("restart result = %+v, want %d captured and no re-read", res, 8-len(before))
			}
			if c, err := g.PollCursor(context.Background(), "base"); err != nil || c != "6" {
				t.Fatalf("cursor = %q %v, want 6 (after payload 5)", c, err)
			}
		})
	}
}

// TestHookFetcherRereadIsDuplicate: a listing from an older cursor (two
// instances racing, a cursor restored from backup) captures nothing twice.
func TestHookFetcherRereadIsDuplicate(t *testing.T) {
	g, drv := hookGate(t)
	list := &payloadList{payloads: [][]string{{"a@x.co", "b@x.co"}, {"c@x.co"}}, pageSize: 5}
	if res, err := fetcher(g, list).FetchOnce(context.Background()); err != nil || res.Captured != 3 {
		t.Fatalf("first listing: %+v %v", res, err)
	}
	// Rewind the cursor to payload 2 by capturing an empty page there.
	if _, err := g.CapturePolled(context.Background(), pipeline.PollBatch{Source: "base", Cursor: "2"}); err != nil {
		t.Fatal(err)
	}
	res, err := fetcher(g, list).FetchOnce(context.Background())
	if err != nil || res.Captured != 0 || res.Duplicates != 1 {
		t.Fatalf("re-read: %+v %v, want one duplicate", res, err)
	}
	if got := captured(t, drv); len(got) != 3 {
		t.Fatalf("captured = %v", got)
	}
}
