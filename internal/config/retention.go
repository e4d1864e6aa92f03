package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Retention is the top-level `retention:` section: what Sluice deletes once
// it is finished and old, so the store does not grow without bound. Off by
// default: nothing is deleted unless a period is set. The elected leader
// (every instance on SQLite, which has one) runs it; see
// docs/adr/0004-retention.md.
//
//	retention:
//	  events: 30d
//	  audit: 90d
type Retention struct {
	// Events: delivered, discarded and rejected events whose last change
	// is older than this are deleted, with their deliveries, escalations
	// and reconciliations. Events held, in delivery or escalated, and
	// events with open escalations or reconciliations, are never deleted.
	// A sender's retry with the idempotency key of a deleted event is
	// accepted as a new event, so keep this longer than any sender
	// retries. 0 (default) keeps every event; otherwise at least 1h.
	Events Period `yaml:"events"`
	// Audit: audit entries older than this are deleted from the start of
	// the chain, but never the trail of an event that is still stored;
	// `sluice audit verify` then starts at the recorded checkpoint. 0
	// (default) keeps the whole log; otherwise at least 1h.
	Audit Period `yaml:"audit"`
	// Interval between two runs. Default 1h.
	Interval Duration `yaml:"interval"`
	// Batch is how many rows one transaction deletes. Default 1000.
	Batch int `yaml:"batch"`
}

// Enabled is true when retention deletes anything.
func (r Retention) Enabled() bool { return r.Events > 0 || r.Audit > 0 }

// Every is the interval between runs, with its default.
func (r Retention) Every() time.Duration {
	if r.Interval <= 0 {
		return time.Hour
	}
	return r.Interval.D()
}

// BatchSize is Batch with its default.
func (r Retention) BatchSize() int {
	if r.Batch <= 0 {
		return 1000
	}
	return r.Batch
}

func (c *Config) validateRetention(es *Errors) {
	r := c.Retention
	for _, f := range []struct {
		name string
		v    Period
	}{{"events", r.Events}, {"audit", r.Audit}} {
		if f.v > 0 && f.v.D() < time.Hour {
			es.Add("retention."+f.name, "%s is too short: at least 1h (or 0 to keep everything)", f.v.D())
		}
	}
	if r.Batch < 0 || r.Batch > 100000 {
		es.Add("retention.batch", "must be between 1 and 100000 (default 1000)")
	}
}

// Period is a duration that may also be written in days: "30d", "1d12h",
// as well as anything time.ParseDuration accepts ("36h", "90m").
type Period time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Period) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseUint(s[:i], 10, 32)
		if err != nil {
			return fmt.Errorf("invalid period %q (use e.g. 30d, 12h, 1d12h)", s)
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
	}
	var rest time.Duration
	if s != "" {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid period %q (use e.g. 30d, 12h, 1d12h)", string(b))
		}
		rest = v
	}
	if rest < 0 {
		return fmt.Errorf("invalid period %q: negative", string(b))
	}
	*p = Period(days + rest)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (p Period) MarshalText() ([]byte, error) {
	d := time.Duration(p)
	if d > 0 && d%(24*time.Hour) == 0 {
		return []byte(strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"), nil
	}
	return []byte(d.String()), nil
}

// D returns the value as a time.Duration.
func (p Period) D() time.Duration { return time.Duration(p) }
