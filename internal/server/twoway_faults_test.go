package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/sim"
	airtablesim "github.com/sluicehq/sluice/internal/sim/airtable"
	hubspotsim "github.com/sluicehq/sluice/internal/sim/hubspot"
	"github.com/sluicehq/sluice/internal/sim/simtest"
	"github.com/sluicehq/sluice/internal/store"
)

// twoWayFaultsConfig is twoWayConfig tuned for a run under faults: fast
// retries with room for many of them, a breaker that does not open on a
// streak of injected errors, and polls driven by the test (interval 1h:
// only the first poll at start runs by itself), a short overlap window.
var twoWayFaultsConfig = strings.NewReplacer(
	"    retry_base: 10ms\n    retry_max: 50ms\n",
	"    retry_base: 5ms\n    retry_max: 40ms\n    max_attempts: 40\n    breaker: {failures: 1000, open_for: 1s}\n",
	"lookup_properties: [firstname]}", "lookup_properties: [firstname], rate_per_10s: 100000}",
	// The simulators' clocks are the test's and their search has no lag:
	// a short overlap re-reads less (each read may fail).
	"overlap: 5s}", "overlap: 1s}",
).Replace(twoWayConfig)

// twoWayFaults is what the simulators inject in TestTwoWayUnderFaults:
// 500s before a write, writes applied and then answered 500, writes
// applied and never answered, every answer a little slow, and answers
// that ask the client to wait with a Retry-After: 429s from HubSpot, 503s
// from Airtable (a 429 from Airtable is its 30 s penalty, which the
// connector sits out: too long for this test; the Airtable tests cover it).
func twoWayFaults(wait string) sim.Faults {
	return sim.Faults{
		Errors:            map[string]float64{wait: 0.01, "500": 0.02},
		RetryAfter:        sim.Duration(time.Second),
		ErrorAfterWrite:   0.06,
		TimeoutAfterWrite: 0.01,
		Hang:              sim.Duration(30 * time.Millisecond),
		Latency:           sim.Duration(time.Millisecond),
	}
}

// TestTwoWayUnderFaults syncs 1,000 contacts between HubSpot and Airtable
// both ways while both simulators inject faults, and people change records
// on both sides over several rounds (while the test polls every 40 ms):
// some on one side, some on the other, some on both between two syncs.
// At the end both sides agree record by record; every capture is a
// change a person made on that side (Sluice's own writes, including those
// the platform applied and answered with an error, are never captured:
// they are suppressed as echoes); no record was captured, hence written to
// the other side, more often than people changed it; and conflicts were
// opened exactly for the records changed on both sides, one per
// direction. Values carry the side a person wrote them on ("hs-"/"at-"),
// so a capture of Sluice's own write is recognisable by its value.
func TestTwoWayUnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about half a minute")
	}
	const (
		records   = 1000
		rounds    = 3
		oneSided  = 150 // records changed on one side per round, per side
		bothSided = 20  // records changed on both sides per round
	)
	rng := rand.New(rand.NewPCG(13, 1000))
	start := time.Now()

	hs, err := hubspotsim.New(hubspotsim.Options{Tokens: []string{twoWayHubSpotToken}, Seed: 13, RateLimit: -1, SearchRate: -1,
		RateInterval: time.Second}) // an injected 429 asks for a 1 s wait
	if err != nil {
		t.Fatal(err)
	}
	at, err := airtablesim.New(airtablesim.Options{Tokens: []string{twoWayAirtableToken}, Seed: 13, RateLimit: -1, TokenRateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	tw := &twoWay{t: t, hs: hs, hsURL: simtest.Start(t, hs).URL, at: at, atURL: simtest.Start(t, at).URL}
	p := &people{t: t, tw: tw}

	// People create the records before Sluice starts: half in HubSpot,
	// half in Airtable. want is what both sides must hold at the end.
	want := map[string]string{}
	realHS, realAT := map[string]int{}, map[string]int{}
	for i := 0; i < records/2; i += 100 {
		var inputs []any
		for j := i; j < i+100; j++ {
			email, name := fmt.Sprintf("c%04d@x.co", j), fmt.Sprintf("hs-c%04d-v0", j)
			inputs = append(inputs, map[string]any{"properties": map[string]any{"email": email, "firstname": name}})
			want[email], realHS[email] = name, 1
		}
		tw.call("POST", tw.hsURL+"/crm/v3/objects/contacts/batch/create", twoWayHubSpotToken, map[string]any{"inputs": inputs})
	}
	for i := records / 2; i < records; i += 10 {
		var recs []any
		for j := i; j < i+10; j++ {
			email, name := fmt.Sprintf("c%04d@x.co", j), fmt.Sprintf("at-c%04d-v0", j)
			recs = append(recs, map[string]any{"fields": map[string]any{"Email": email, "Name": name}})
			want[email], realAT[email] = name, 1
		}
		tw.call("POST", p.atBase(), twoWayAirtableToken, map[string]any{"records": recs})
	}
	if err := hs.SetFaults(twoWayFaults("429")); err != nil {
		t.Fatal(err)
	}
	if err := at.SetFaults(twoWayFaults("503")); err != nil {
		t.Fatal(err)
	}
	startTwoWayOn(t, twoWayFaultsConfig, tw)
	p.settle()
	p.ids()
	t.Logf("first sync settled at %v", time.Since(start).Round(time.Millisecond))

	emails := make([]string, 0, records)
	for e := range want {
		emails = append(emails, e)
	}
	slices.Sort(emails)
	both := map[string]int{} // rounds in which a record changed on both sides
	version := 0
	for round := 1; round <= rounds; round++ {
		rng.Shuffle(len(emails), func(i, j int) { emails[i], emails[j] = emails[j], emails[i] })
		var ops, bothOps []func()
		for i, email := range emails[:2*oneSided+bothSided] {
			email, edits := email, 1+rng.IntN(2)
			switch {
			case i < oneSided: // HubSpot only, once or twice
				realHS[email] += edits
				for range edits {
					version++
					want[email] = fmt.Sprintf("hs-%s-v%d", email[:5], version)
				}
				last := version
				ops = append(ops, func() {
					for v := last - edits + 1; v <= last; v++ {
						p.editHubSpot(email, fmt.Sprintf("hs-%s-v%d", email[:5], v))
					}
				})
			case i < 2*oneSided: // Airtable only
				realAT[email] += edits
				for range edits {
					version++
					want[email] = fmt.Sprintf("at-%s-v%d", email[:5], version)
				}
				last := version
				ops = append(ops, func() {
					for v := last - edits + 1; v <= last; v++ {
						p.editAirtable(email, fmt.Sprintf("at-%s-v%d", email[:5], v))
					}
				})
			default: // both sides between two polls: a conflict each way
				both[email]++
				realHS[email]++
				realAT[email]++
				version++
				hsName, atName := fmt.Sprintf("hs-%s-v%d", email[:5], version), fmt.Sprintf("at-%s-v%d", email[:5], version)
				want[email] = hsName // the operator keeps HubSpot's version
				bothOps = append(bothOps, func() {
					p.polls.Lock()
					defer p.polls.Unlock()
					p.editHubSpot(email, hsName)
					p.editAirtable(email, atName)
				})
			}
		}
		rng.Shuffle(len(ops), func(i, j int) { ops[i], ops[j] = ops[j], ops[i] })
		// The changes on both sides come first, each pair with no poll in
		// between; then people work through the rest, four at a time,
		// while the test polls both sides every 40 ms and Sluice delivers.
		for _, op := range bothOps {
			op()
		}
		stop := p.pollEvery(40 * time.Millisecond)
		work := make(chan func())
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for op := range work {
					op()
				}
			}()
		}
		for _, op := range ops {
			work <- op
		}
		close(work)
		wg.Wait()
		stop()
		t.Logf("round %d: people done at %v", round, time.Since(start).Round(time.Millisecond))
		t0 := time.Now()
		p.settle()
		t1 := time.Now()
		p.resolveConflicts()
		p.settle()
		t.Logf("round %d: settle %v, after conflicts %v", round, t1.Sub(t0), time.Since(t1))
		t.Logf("round %d done at %v", round, time.Since(start).Round(time.Millisecond))
	}

	// Both sides agree, record by record, on what people last wrote (and
	// for records changed on both sides, on HubSpot's version).
	hsNames, atNames := tw.hubspotNames(), tw.airtableNames()
	bad := 0
	for _, email := range emails {
		if hsNames[email] != want[email] || atNames[email] != want[email] {
			if bad++; bad <= 10 {
				t.Errorf("%s: hubspot %q, airtable %q, want %q", email, hsNames[email], atNames[email], want[email])
			}
		}
	}
	if bad > 0 {
		n := 0
		for _, email := range emails {
			if hsNames[email] != want[email] || atNames[email] != want[email] {
				if n++; n <= 3 {
					p.dumpRecord(email)
				}
			}
		}
	}
	if len(hsNames) != records || len(atNames) != records || bad > 0 {
		t.Fatalf("%d of %d records differ; hubspot holds %d, airtable %d", bad, records, len(hsNames), len(atNames))
	}

	ex := tw.srv.Driver.Executor()
	ctx := context.Background()
	// Every capture is a change a person made on that side: a value that
	// came from the other side is Sluice's own write, captured as a change.
	capturedHS, capturedAT := map[string]int{}, map[string]int{}
	events, echoDumps := 0, 0
	for _, e := range p.allEvents() {
		full, err := ex.EventGetByID(ctx, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		var rec struct {
			Name string `json:"name"`
		}
		_ = json.Unmarshal(full.Canonical, &rec)
		prefix, counts := "hs-", capturedHS
		if e.Source == "airtable_contacts" {
			prefix, counts = "at-", capturedAT
		}
		if !strings.HasPrefix(rec.Name, prefix) {
			if echoDumps++; echoDumps <= 2 {
				p.dumpRecord(e.RecordKey)
			}
			t.Errorf("event %s from %s captured %q for %s: Sluice's own write taken for a change", e.ID, e.Source, rec.Name, e.RecordKey)
		}
		counts[e.RecordKey]++
		events++
	}
	// One capture (so one write to the other side) per real change at
	// most: changes made between two polls are one capture.
	for _, email := range emails {
		if capturedHS[email] > realHS[email] || capturedAT[email] > realAT[email] {
			t.Errorf("%s: captured %d from HubSpot (%d real changes), %d from Airtable (%d real changes)",
				email, capturedHS[email], realHS[email], capturedAT[email], realAT[email])
		}
		if capturedHS[email]+capturedAT[email] == 0 {
			t.Errorf("%s: never captured", email)
		}
	}
	// Conflicts: exactly the records changed on both sides, one per
	// direction.
	escs, err := ex.EscalationList(ctx, &store.EscalationListParams{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	conflicts := map[string]int{}
	for _, e := range escs {
		ev, err := ex.EventGetByID(ctx, e.EventID)
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind != "conflict_review" {
			t.Errorf("escalation %s of %s: %s (%s), want only conflict reviews", e.ID, ev.RecordKey, e.Kind, e.LastError)
			continue
		}
		conflicts[ev.RecordKey]++
	}
	dumps := 0
	for email := range conflicts {
		if both[email] == 0 {
			if dumps++; dumps <= 2 {
				p.dumpRecord(email)
			}
			t.Errorf("%s: conflict opened, but only one side changed it", email)
		}
	}
	for email, n := range both {
		if conflicts[email] != 2*n {
			if dumps++; dumps <= 4 {
				p.dumpRecord(email)
			}
			t.Errorf("%s: changed on both sides in %d rounds, %d conflicts opened, want one each way each time", email, n, conflicts[email])
		}
	}
	echoes := 0
	if err := ex.AuditScan(ctx, 0, func(e *store.AuditEntry) error {
		if e.Action == audit.ActionEchoSuppressed {
			echoes++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if echoes == 0 {
		t.Error("no echo_suppressed entry in the audit log")
	}
	hst, ats := hs.Stats(), at.Stats()
	if hst.DuplicatesByKey+ats.DuplicatesByKey != 0 {
		t.Errorf("duplicates by key: hubspot %d, airtable %d", hst.DuplicatesByKey, ats.DuplicatesByKey)
	}
	for name, st := range map[string]sim.Stats{"hubspot": hst, "airtable": ats} {
		if st.ErrorsAfterWrite == 0 || st.TimeoutsAfterWrite == 0 || st.ByStatus["429"]+st.ByStatus["503"] == 0 || st.ByStatus["500"] <= st.ErrorsAfterWrite {
			t.Errorf("%s: faults did not all fire: %+v", name, st)
		}
	}
	if res := tw.call("GET", tw.adminTo+"/v1/audit/verify", "ops-token-0123456789", nil); res["ok"] == false {
		t.Errorf("audit verify: %v", res)
	}
	t.Logf("%d events, %d echoes suppressed, %d conflicts; hubspot %d requests (%d applied then 500, %d unanswered, %d 429), airtable %d requests (%d applied then 500, %d unanswered, %d 503); %v",
		events, echoes, len(conflicts)*2, hst.Requests, hst.ErrorsAfterWrite, hst.TimeoutsAfterWrite, hst.ByStatus["429"],
		ats.Requests, ats.ErrorsAfterWrite, ats.TimeoutsAfterWrite, ats.ByStatus["503"], time.Since(start).Round(time.Millisecond))
}

// people change records in the simulators through their APIs, as people
// (or their other tools) do, under the same faults Sluice sees: a write
// answered with an error is checked by reading the record back and made
// again only if it did not land.
type people struct {
	t  *testing.T
	tw *twoWay
	// polls is held by each poll round and by a change on both sides, so
	// that no poll runs between a record's two changes.
	polls sync.Mutex

	mu           sync.Mutex
	hsIDs, atIDs map[string]string // email -> record ID
}

func (p *people) atBase() string {
	return p.tw.atURL + "/v0/" + airtablesim.DefaultBaseID + "/Contacts"
}

// ids learns every record's ID on both sides.
func (p *people) ids() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hsIDs, p.atIDs = map[string]string{}, map[string]string{}
	for _, r := range p.tw.hs.Records("contacts") {
		p.hsIDs[r["email"]] = r["hs_object_id"]
	}
	for _, r := range p.tw.at.Records(airtablesim.DefaultBaseID, "Contacts") {
		email, _ := r.Fields["Email"].(string)
		p.atIDs[email] = r.ID
	}
}

// try sends one request and says whether it succeeded; faults make it
// fail often.
func (p *people) try(method, url, token string, body any) (map[string]any, bool) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if resp.StatusCode >= 300 || json.Unmarshal(raw, &out) != nil {
		return nil, false
	}
	return out, true
}

// write makes a change until it has landed: sent again only when a
// read-back shows it did not.
func (p *people) write(method, url, token string, body any, read func() (string, bool), want string) {
	p.t.Helper()
	for range 100 {
		if _, ok := p.try(method, url, token, body); ok {
			return
		}
		for range 100 {
			if got, ok := read(); ok {
				if got == want {
					return
				}
				break
			}
		}
	}
	p.t.Errorf("%s %s: never landed", method, url)
}

func (p *people) editHubSpot(email, name string) {
	p.mu.Lock()
	id := p.hsIDs[email]
	p.mu.Unlock()
	url := p.tw.hsURL + "/crm/v3/objects/contacts/" + id
	p.write("PATCH", url, twoWayHubSpotToken, map[string]any{"properties": map[string]any{"firstname": name}}, func() (string, bool) {
		res, ok := p.try("GET", url+"?properties=firstname", twoWayHubSpotToken, nil)
		if !ok {
			return "", false
		}
		props, _ := res["properties"].(map[string]any)
		got, _ := props["firstname"].(string)
		return got, true
	}, name)
}

func (p *people) editAirtable(email, name string) {
	p.mu.Lock()
	id := p.atIDs[email]
	p.mu.Unlock()
	url := p.atBase() + "/" + id
	p.write("PATCH", url, twoWayAirtableToken, map[string]any{"fields": map[string]any{"Name": name}}, func() (string, bool) {
		res, ok := p.try("GET", url, twoWayAirtableToken, nil)
		if !ok {
			return "", false
		}
		fields, _ := res["fields"].(map[string]any)
		got, _ := fields["Name"].(string)
		return got, true
	}, name)
}

// pollOnce polls both sides once and says whether both polls read to the
// end; a poll the faults fail is simply missed, as the poll loop would
// retry it later.
func (p *people) pollOnce() (ok bool) {
	ok = true
	for _, src := range []string{"hubspot_contacts", "airtable_contacts"} {
		if _, err := p.tw.srv.PollNow(context.Background(), src); err != nil {
			ok = false
		}
	}
	return ok
}

// pollEvery polls both sides every d until the returned stop is called.
func (p *people) pollEvery(d time.Duration) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			p.polls.Lock()
			p.pollOnce()
			p.polls.Unlock()
		}
	}()
	return func() { close(done); <-finished }
}

// counts is the number of events by state.
func (p *people) counts() (total, delivering int64) {
	p.t.Helper()
	c, err := p.tw.srv.Driver.Executor().EventCountByState(context.Background())
	if err != nil {
		p.t.Fatal(err)
	}
	for _, n := range c {
		total += n
	}
	return total, c[string(store.EventDelivering)]
}

// settle polls and waits for deliveries until, since the last capture,
// each side was read to the end by a poll that began with nothing
// delivering: a poll failed by a fault reads nothing after the failure, and
// a poll that began while deliveries were running may have stopped at a
// record being written (deferred), so neither counts.
func (p *people) settle() {
	p.t.Helper()
	// Generous: a busy machine slows every poll; a loop never settles.
	deadline := time.Now().Add(3 * time.Minute)
	read := map[string]bool{}
	for !read["hubspot_contacts"] || !read["airtable_contacts"] {
		if time.Now().After(deadline) {
			p.t.Fatal("two-way sync did not settle in 3 minutes")
		}
		p.waitIdle(deadline)
		before, _ := p.counts()
		for _, src := range []string{"hubspot_contacts", "airtable_contacts"} {
			if _, err := p.tw.srv.PollNow(context.Background(), src); err == nil {
				read[src] = true
			}
		}
		if after, _ := p.counts(); after != before {
			read = map[string]bool{}
		}
	}
	p.waitIdle(deadline)
}

// waitIdle waits until no event is delivering.
func (p *people) waitIdle(deadline time.Time) {
	p.t.Helper()
	for {
		_, delivering := p.counts()
		if delivering == 0 {
			return
		}
		if time.Now().After(deadline) {
			p.dumpDelivering()
			p.t.Fatalf("%d events still delivering", delivering)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// resolveConflicts settles every open conflict review the way an operator
// who trusts HubSpot would: the write into Airtable is retried (Sluice's
// version, HubSpot's, overwrites), the write into HubSpot is resolved
// keeping HubSpot's.
func (p *people) resolveConflicts() {
	p.t.Helper()
	ex := p.tw.srv.Driver.Executor()
	escs, err := ex.EscalationList(context.Background(), &store.EscalationListParams{Status: store.EscalationOpen, Limit: 10000})
	if err != nil {
		p.t.Fatal(err)
	}
	for _, e := range escs {
		if e.Kind != "conflict_review" {
			continue // reported at the end
		}
		ev, err := ex.EventGetByID(context.Background(), e.EventID)
		if err != nil {
			p.t.Fatal(err)
		}
		url := p.tw.adminTo + "/v1/escalations/" + e.ID
		if ev.Source == "hubspot_contacts" {
			p.tw.call("POST", url+"/retry", "ops-token-0123456789", map[string]any{})
		} else {
			p.tw.call("POST", url+"/resolve", "ops-token-0123456789", map[string]any{"note": "HubSpot's version kept"})
		}
	}
}

// allEvents lists every event (summaries), paging past 1,000.
func (p *people) allEvents() []*store.Event {
	p.t.Helper()
	var out []*store.Event
	before := ""
	for {
		evs, err := p.tw.srv.Driver.Executor().EventList(context.Background(), &store.EventListParams{BeforeID: before, Limit: 1000})
		if err != nil {
			p.t.Fatal(err)
		}
		out = append(out, evs...)
		if len(evs) < 1000 {
			return out
		}
		before = evs[len(evs)-1].ID
	}
}

// dumpDelivering logs the deliveries of events still delivering.
func (p *people) dumpDelivering() {
	ex := p.tw.srv.Driver.Executor()
	evs, _ := ex.EventList(context.Background(), &store.EventListParams{State: store.EventDelivering, Limit: 20})
	for _, e := range evs {
		ds, _ := ex.DeliveryListByEvent(context.Background(), e.ID)
		for _, d := range ds {
			p.t.Logf("%s %s %s: %s attempts %d next %v ambiguous %v status %d %s", e.Source, e.RecordKey, d.Destination, d.State, d.Attempts, d.NextAt, d.Ambiguous, d.LastStatus, d.LastError)
		}
	}
}

// dumpRecord logs every event of one record key with its deliveries and
// timeline, to explain a difference.
func (p *people) dumpRecord(key string) {
	ex := p.tw.srv.Driver.Executor()
	ctx := context.Background()
	for _, e := range p.allEvents() {
		if e.RecordKey != key {
			continue
		}
		full, _ := ex.EventGetByID(ctx, e.ID)
		p.t.Logf("EVENT %s %s %s %s %s", key, e.ID, e.Source, e.State, full.Canonical)
		ds, _ := ex.DeliveryListByEvent(ctx, e.ID)
		for _, d := range ds {
			p.t.Logf("   delivery %s %s attempts %d ambiguous %v payload %s", d.Destination, d.State, d.Attempts, d.Ambiguous, d.Payload)
		}
		as, _ := ex.AuditListByEvent(ctx, e.ID)
		for _, a := range as {
			p.t.Logf("   %s %s %s %s %d %s", a.At.Format("15:04:05.000"), a.Actor, a.Action, a.Outcome, a.Status, a.Message)
		}
	}
	p.mu.Lock()
	hsID, atID := p.hsIDs[key], p.atIDs[key]
	p.mu.Unlock()
	_ = ex.AuditScan(ctx, 0, func(a *store.AuditEntry) error {
		if (strings.Contains(a.Message, key) || strings.Contains(a.Message, " "+hsID+" ") || strings.Contains(a.Message, atID)) && a.EventID == "" {
			p.t.Logf("   %s %s %s %s", a.At.Format("15:04:05.000"), a.Actor, a.Action, a.Message)
		}
		return nil
	})
}
