// Package control is the layer that watches the pipeline rather than runs
// it: consistency checks that read delivered records back from each
// destination and compare them with what Sluice wrote. Differences become
// reconciliation tasks; the ratio of consistent records is a metric.
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/store"
)

// Difference is one field that does not match.
type Difference struct {
	Field string `json:"field"`
	Wrote any    `json:"sluice_wrote"`
	Found any    `json:"destination_has"`
}

// Finding is one record that is not as Sluice left it.
type Finding struct {
	Destination string       `json:"destination"`
	RecordKey   string       `json:"record_key"`
	EventID     string       `json:"event_id"`
	Missing     bool         `json:"missing,omitempty"`
	Differences []Difference `json:"differences,omitempty"`
	Task        string       `json:"reconciliation_id,omitempty"`
}

// DestinationReport is the outcome for one destination.
type DestinationReport struct {
	Destination string    `json:"destination"`
	Checked     int       `json:"checked"`
	Consistent  int       `json:"consistent"`
	Findings    []Finding `json:"findings,omitempty"`
	Errors      int       `json:"lookup_errors"`
	Skipped     string    `json:"skipped,omitempty"`
}

// Ratio is consistent/checked, 1 when nothing was checked.
func (r DestinationReport) Ratio() float64 {
	if r.Checked == 0 {
		return 1
	}
	return float64(r.Consistent) / float64(r.Checked)
}

// Pipeline is what the control loops need of the gate (*pipeline.Gate
// implements it): the compiled plan and its config, the gate's clock,
// redaction for what they send out, and the one transition they cause.
type Pipeline interface {
	Plan() *pipeline.Plan
	Now() time.Time
	Clean(s string) string
	// ConsistencyMismatch records a read-back finding on delivery d as a
	// reconciliation task (unless its event has one open) and returns the
	// task's ID.
	ConsistencyMismatch(ctx context.Context, d *store.Delivery, problem string) (string, error)
}

// Reader is what the consistency checker reads (store.Executor
// implements it).
type Reader interface {
	IdentityList(ctx context.Context, p *store.IdentityListParams) ([]*store.Identity, error)
	DeliveryLatestSucceeded(ctx context.Context, destination, recordKey string) (*store.Delivery, error)
}

// SLAStore is what the SLA watcher reads and keeps (store.Executor
// implements it).
type SLAStore interface {
	store.SLAStore
	DestinationStateGet(ctx context.Context, name string) (*store.DestinationState, error)
}

// Checker reads records back and compares.
type Checker struct {
	Gate  Pipeline
	Store Reader
	Conns map[string]connector.Connector
	// Observe receives each destination's ratio (metrics); may be nil.
	Observe func(destination string, ratio float64)
	// Unverifiable is told of each destination that cannot be read back
	// (metrics: no ratio, an unverifiable flag instead); may be nil.
	Unverifiable func(destination string)
	// Record receives each destination's report (the console's rollups);
	// may be nil.
	Record func(ctx context.Context, r DestinationReport)
}

// CheckParams select what to check.
type CheckParams struct {
	// Destination limits the check to one; empty checks all that can be
	// read back.
	Destination string
	// Sample checks at most this many records per destination, chosen at
	// random; 0 checks all.
	Sample int
	// DryRun reports findings without opening reconciliation tasks.
	DryRun bool
}

// Check runs one consistency pass.
func (c *Checker) Check(ctx context.Context, p CheckParams) ([]DestinationReport, error) {
	names := make([]string, 0, len(c.Conns))
	for n := range c.Conns {
		if p.Destination == "" || p.Destination == n {
			names = append(names, n)
		}
	}
	if p.Destination != "" && len(names) == 0 {
		return nil, fmt.Errorf("no destination named %q", p.Destination)
	}
	sort.Strings(names)
	var out []DestinationReport
	for _, n := range names {
		r, err := c.checkOne(ctx, n, p)
		if err != nil {
			return out, fmt.Errorf("consistency %s: %w", n, err)
		}
		switch {
		case r.Skipped != "" && c.Unverifiable != nil:
			c.Unverifiable(n)
		case r.Skipped == "" && r.Checked > 0 && c.Observe != nil:
			// Nothing checked is no evidence either way: the last ratio
			// stands rather than becoming 1.
			c.Observe(n, r.Ratio())
		}
		if c.Record != nil && r.Skipped == "" && !p.DryRun {
			c.Record(ctx, r)
		}
		out = append(out, r)
	}
	return out, nil
}

func (c *Checker) checkOne(ctx context.Context, dest string, p CheckParams) (DestinationReport, error) {
	rep := DestinationReport{Destination: dest}
	lk, ok := c.Conns[dest].(connector.Looker)
	if !ok {
		rep.Skipped = "connector cannot read records back"
		return rep, nil
	}
	ex := c.Store
	var ids []*store.Identity
	after := ""
	for {
		page, err := ex.IdentityList(ctx, &store.IdentityListParams{Destination: dest, AfterKey: after, Limit: 1000})
		if err != nil {
			return rep, err
		}
		ids = append(ids, page...)
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].RecordKey
	}
	if p.Sample > 0 && len(ids) > p.Sample {
		rand.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		ids = ids[:p.Sample]
	}
	for _, ident := range ids {
		d, err := ex.DeliveryLatestSucceeded(ctx, dest, ident.RecordKey)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return rep, err
		}
		var wrote map[string]any
		if err := json.Unmarshal(d.Payload, &wrote); err != nil {
			return rep, err
		}
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		extID, found, ok, err := lk.Lookup(lctx, ident.RecordKey)
		cancel()
		if err != nil {
			rep.Errors++
			continue
		}
		rep.Checked++
		f := Finding{Destination: dest, RecordKey: ident.RecordKey, EventID: d.EventID}
		switch {
		case !ok:
			f.Missing = true
		default:
			f.Differences = Compare(wrote, found)
			_ = extID
		}
		if !f.Missing && len(f.Differences) == 0 {
			rep.Consistent++
			continue
		}
		if !p.DryRun {
			task, err := c.openTask(ctx, d, f)
			if err != nil {
				return rep, err
			}
			f.Task = task
		}
		rep.Findings = append(rep.Findings, f)
	}
	return rep, nil
}

// Compare lists the fields Sluice wrote whose read-back value differs
// (see connector.CompareFields).
func Compare(wrote, found map[string]any) []Difference {
	var out []Difference
	for _, d := range connector.CompareFields(wrote, found) {
		out = append(out, Difference{Field: d.Field, Wrote: d.Wrote, Found: d.Found})
	}
	return out
}

// openTask records a finding as a reconciliation task (through the gate)
// unless the event already has an open one.
func (c *Checker) openTask(ctx context.Context, d *store.Delivery, f Finding) (string, error) {
	problem := "record missing from the destination"
	if !f.Missing {
		var parts []string
		for _, df := range f.Differences {
			parts = append(parts, fmt.Sprintf("%s: wrote %v, found %v", df.Field, df.Wrote, df.Found))
		}
		problem = "differs: " + strings.Join(parts, "; ")
	}
	return c.Gate.ConsistencyMismatch(ctx, d, problem)
}
