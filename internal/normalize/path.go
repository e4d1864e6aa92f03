package normalize

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

type stepOp uint8

const (
	opKey   stepOp = iota // .name: member of an object
	opIndex               // [N]: element of an array
	opAll                 // [*]: every element of an array
)

type step struct {
	op    stepOp
	key   string
	index int
}

// path is a compiled source path such as "items[*].sku".
type path struct {
	raw   string
	steps []step
	// nextAll[i] is the position of the first [*] at or after step i, or
	// len(steps) when there is none.
	nextAll []int
}

// maxIndex bounds literal indexes so that they always fit an int.
const maxIndex = 1<<31 - 1

func parsePath(raw string) (*path, error) {
	if raw == "" {
		return nil, errors.New("empty path")
	}
	p := &path{raw: raw}
	i := 0
	for {
		start := i
		for i < len(raw) && raw[i] != '.' && raw[i] != '[' && raw[i] != ']' {
			i++
		}
		name := raw[start:i]
		if i < len(raw) && raw[i] == ']' {
			return nil, fmt.Errorf("unexpected ']' at offset %d", i)
		}
		switch {
		case name != "":
			p.steps = append(p.steps, step{op: opKey, key: name})
		case start == 0 && i < len(raw) && raw[i] == '[':
			// A leading index addresses an array payload: "[0].id".
		default:
			return nil, fmt.Errorf("empty segment at offset %d", start)
		}
		for i < len(raw) && raw[i] == '[' {
			end := strings.IndexByte(raw[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("unclosed '[' at offset %d", i)
			}
			inner := raw[i+1 : i+end]
			if inner == "*" {
				p.steps = append(p.steps, step{op: opAll})
			} else {
				n, err := parseIndex(inner)
				if err != nil {
					return nil, fmt.Errorf("invalid index %q at offset %d: %w", inner, i, err)
				}
				p.steps = append(p.steps, step{op: opIndex, index: n})
			}
			i += end + 1
		}
		if i == len(raw) {
			break
		}
		if raw[i] != '.' {
			return nil, fmt.Errorf("unexpected %q at offset %d", raw[i], i)
		}
		i++
		if i == len(raw) {
			return nil, fmt.Errorf("empty segment at offset %d", i)
		}
	}
	p.nextAll = make([]int, len(p.steps)+1)
	p.nextAll[len(p.steps)] = len(p.steps)
	for i := len(p.steps) - 1; i >= 0; i-- {
		if p.steps[i].op == opAll {
			p.nextAll[i] = i
		} else {
			p.nextAll[i] = p.nextAll[i+1]
		}
	}
	return p, nil
}

func parseIndex(s string) (int, error) {
	if s == "" {
		return 0, errors.New("want a number or *")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("want a number or *")
		}
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n > maxIndex {
		return 0, errors.New("index too large")
	}
	return int(n), nil
}

// wild reports whether the path collects array elements with [*].
func (p *path) wild() bool { return p.nextAll[0] < len(p.steps) }

// head returns the key the path starts with, if it starts with one.
func (p *path) head() (string, bool) {
	if len(p.steps) > 0 && p.steps[0].op == opKey {
		return p.steps[0].key, true
	}
	return "", false
}

// get resolves a path without [*]. A missing member, an out-of-range index
// or a null along the way yields found == false; a value of the wrong shape
// is an error.
func (p *path) get(root any) (v any, found bool, err error) {
	return p.walk(root, 0, len(p.steps), nil)
}

// walk follows steps[from:to], none of which is [*]. idx holds the element
// positions chosen for the [*] steps before from, for error messages.
func (p *path) walk(cur any, from, to int, idx []int) (any, bool, error) {
	for i := from; i < to; i++ {
		if cur == nil {
			return nil, false, nil
		}
		s := &p.steps[i]
		switch s.op {
		case opKey:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, false, p.shapeError("object", i, cur, idx)
			}
			if cur, ok = m[s.key]; !ok {
				return nil, false, nil
			}
		case opIndex:
			a, ok := cur.([]any)
			if !ok {
				return nil, false, p.shapeError("array", i, cur, idx)
			}
			if s.index >= len(a) {
				return nil, false, nil
			}
			cur = a[s.index]
		}
	}
	return cur, cur != nil, nil
}

// collect resolves a path with [*]. found is false when the part before the
// first [*] is missing or null; elements whose remainder is missing or null
// are skipped. Nested [*] flatten into one array.
func (p *path) collect(root any) (vals []any, found bool, err error) {
	first := p.nextAll[0]
	v, ok, err := p.walk(root, 0, first, nil)
	if err != nil || !ok {
		return nil, false, err
	}
	a, ok := v.([]any)
	if !ok {
		return nil, false, p.shapeError("array", first, v, nil)
	}
	vals = make([]any, 0, len(a))
	idx := make([]int, 0, 4)
	for j, e := range a {
		if vals, err = p.collectFrom(e, first+1, append(idx, j), vals); err != nil {
			return nil, false, err
		}
	}
	return vals, true, nil
}

func (p *path) collectFrom(cur any, from int, idx []int, acc []any) ([]any, error) {
	next := p.nextAll[from]
	v, ok, err := p.walk(cur, from, next, idx)
	if err != nil || !ok {
		return acc, err
	}
	if next == len(p.steps) {
		return append(acc, v), nil
	}
	a, ok := v.([]any)
	if !ok {
		return acc, p.shapeError("array", next, v, idx)
	}
	for j, e := range a {
		if acc, err = p.collectFrom(e, next+1, append(idx, j), acc); err != nil {
			return acc, err
		}
	}
	return acc, nil
}

// shapeError reports that the value reached after steps[:i] is not the
// container steps[i] needs.
func (p *path) shapeError(want string, i int, got any, idx []int) error {
	return fmt.Errorf("expected %s at %s, got %s", want, p.render(i, idx), jsonType(got))
}

// render spells steps[:i], with the concrete positions in idx in place of
// each [*], so that a message points at the offending element.
func (p *path) render(i int, idx []int) string {
	if i == 0 {
		return "the root"
	}
	var b strings.Builder
	for _, s := range p.steps[:i] {
		switch s.op {
		case opKey:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.key)
		case opIndex:
			fmt.Fprintf(&b, "[%d]", s.index)
		case opAll:
			if len(idx) > 0 {
				fmt.Fprintf(&b, "[%d]", idx[0])
				idx = idx[1:]
			} else {
				b.WriteString("[*]")
			}
		}
	}
	return b.String()
}
