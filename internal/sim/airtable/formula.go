package airtable

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// formula is a parsed filterByFormula: evaluated against one record's
// cells, a truthy result keeps the record.
type formula func(env formulaEnv) any

// formulaEnv is what a formula reads: a field's value by name or ID, and
// the record's ID.
type formulaEnv struct {
	field    func(name string) any
	recordID string
}

// parseFormula parses the subset of Airtable's formula language a
// simulator needs to find records: field references ({Name} or a bare
// one-word name), string literals in single or double quotes with
// backslash escapes (\' \" \\ \n \t), numbers, the operators = != <> < >
// <= >= & + - * / and parentheses, and the functions AND, OR, NOT, IF,
// TRUE, FALSE, BLANK, RECORD_ID, LOWER, UPPER, TRIM, LEN, FIND and
// IS_BEFORE, IS_AFTER, IS_SAME (on ISO 8601 dates). known
// reports whether a field exists; unknown fields fail the parse the way
// Airtable reports them.
func parseFormula(src string, known func(string) bool) (formula, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, known: known}
	f, err := p.expr()
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tokEOF {
		return nil, fmt.Errorf("unexpected %q at position %d", p.peek().text, p.peek().pos)
	}
	if len(p.unknown) > 0 {
		return nil, fmt.Errorf("Unknown field names: %s", strings.Join(p.unknown, ", "))
	}
	return f, nil
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokNumber
	tokString
	tokField
	tokIdent
	tokOp
	tokLParen
	tokRParen
	tokComma
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func lex(src string) ([]token, error) {
	var out []token
	rs := []rune(src)
	for i := 0; i < len(rs); {
		c := rs[i]
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '{':
			j := i + 1
			for j < len(rs) && rs[j] != '}' {
				j++
			}
			if j == len(rs) {
				return nil, fmt.Errorf("unterminated field reference at position %d", i)
			}
			out = append(out, token{tokField, string(rs[i+1 : j]), i})
			i = j + 1
		case c == '\'' || c == '"':
			var b strings.Builder
			j := i + 1
			for ; j < len(rs) && rs[j] != c; j++ {
				if rs[j] == '\\' && j+1 < len(rs) {
					j++
					switch rs[j] {
					case 'n':
						b.WriteRune('\n')
					case 't':
						b.WriteRune('\t')
					case 'r':
						b.WriteRune('\r')
					default:
						b.WriteRune(rs[j])
					}
					continue
				}
				b.WriteRune(rs[j])
			}
			if j == len(rs) {
				return nil, fmt.Errorf("unterminated string at position %d", i)
			}
			out = append(out, token{tokString, b.String(), i})
			i = j + 1
		case unicode.IsDigit(c) || (c == '.' && i+1 < len(rs) && unicode.IsDigit(rs[i+1])):
			j := i
			for j < len(rs) && (unicode.IsDigit(rs[j]) || rs[j] == '.') {
				j++
			}
			out = append(out, token{tokNumber, string(rs[i:j]), i})
			i = j
		case unicode.IsLetter(c) || c == '_':
			j := i
			for j < len(rs) && (unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j]) || rs[j] == '_') {
				j++
			}
			out = append(out, token{tokIdent, string(rs[i:j]), i})
			i = j
		case c == '(':
			out = append(out, token{tokLParen, "(", i})
			i++
		case c == ')':
			out = append(out, token{tokRParen, ")", i})
			i++
		case c == ',':
			out = append(out, token{tokComma, ",", i})
			i++
		default:
			two := ""
			if i+1 < len(rs) {
				two = string(rs[i : i+2])
			}
			switch two {
			case "!=", "<>", "<=", ">=":
				out = append(out, token{tokOp, two, i})
				i += 2
				continue
			}
			if strings.ContainsRune("=<>&+-*/", c) {
				out = append(out, token{tokOp, string(c), i})
				i++
				continue
			}
			return nil, fmt.Errorf("unexpected character %q at position %d", c, i)
		}
	}
	return append(out, token{tokEOF, "end of formula", len(rs)}), nil
}

type parser struct {
	toks    []token
	i       int
	known   func(string) bool
	unknown []string
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *parser) expr() (formula, error) {
	left, err := p.concat()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tokOp && isComparison(p.peek().text) {
		op := p.next().text
		right, err := p.concat()
		if err != nil {
			return nil, err
		}
		l, r := left, right
		left = func(e formulaEnv) any { return compare(op, l(e), r(e)) }
	}
	return left, nil
}

func isComparison(op string) bool {
	switch op {
	case "=", "!=", "<>", "<", ">", "<=", ">=":
		return true
	}
	return false
}

func (p *parser) concat() (formula, error) {
	left, err := p.additive()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tokOp && p.peek().text == "&" {
		p.next()
		right, err := p.additive()
		if err != nil {
			return nil, err
		}
		l, r := left, right
		left = func(e formulaEnv) any { return toText(l(e)) + toText(r(e)) }
	}
	return left, nil
}

func (p *parser) additive() (formula, error) {
	left, err := p.multiplicative()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tokOp && (p.peek().text == "+" || p.peek().text == "-") {
		op := p.next().text
		right, err := p.multiplicative()
		if err != nil {
			return nil, err
		}
		l, r := left, right
		left = func(e formulaEnv) any { return arith(op, l(e), r(e)) }
	}
	return left, nil
}

func (p *parser) multiplicative() (formula, error) {
	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tokOp && (p.peek().text == "*" || p.peek().text == "/") {
		op := p.next().text
		right, err := p.unary()
		if err != nil {
			return nil, err
		}
		l, r := left, right
		left = func(e formulaEnv) any { return arith(op, l(e), r(e)) }
	}
	return left, nil
}

func (p *parser) unary() (formula, error) {
	if p.peek().kind == tokOp && p.peek().text == "-" {
		p.next()
		inner, err := p.unary()
		if err != nil {
			return nil, err
		}
		return func(e formulaEnv) any { return arith("-", 0.0, inner(e)) }, nil
	}
	return p.primary()
}

func (p *parser) primary() (formula, error) {
	t := p.next()
	switch t.kind {
	case tokNumber:
		n, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, fmt.Errorf("invalid number %q at position %d", t.text, t.pos)
		}
		return func(formulaEnv) any { return n }, nil
	case tokString:
		s := t.text
		return func(formulaEnv) any { return s }, nil
	case tokField:
		return p.fieldRef(t.text), nil
	case tokLParen:
		inner, err := p.expr()
		if err != nil {
			return nil, err
		}
		if p.next().kind != tokRParen {
			return nil, fmt.Errorf("missing ) for ( at position %d", t.pos)
		}
		return inner, nil
	case tokIdent:
		if p.peek().kind != tokLParen {
			switch strings.ToUpper(t.text) {
			case "TRUE":
				return func(formulaEnv) any { return true }, nil
			case "FALSE":
				return func(formulaEnv) any { return false }, nil
			}
			return p.fieldRef(t.text), nil
		}
		p.next()
		var args []formula
		if p.peek().kind != tokRParen {
			for {
				a, err := p.expr()
				if err != nil {
					return nil, err
				}
				args = append(args, a)
				if p.peek().kind != tokComma {
					break
				}
				p.next()
			}
		}
		if p.next().kind != tokRParen {
			return nil, fmt.Errorf("missing ) in call of %s at position %d", t.text, t.pos)
		}
		return call(strings.ToUpper(t.text), args, t.pos)
	}
	return nil, fmt.Errorf("unexpected %q at position %d", t.text, t.pos)
}

func (p *parser) fieldRef(name string) formula {
	if !p.known(name) {
		p.unknown = append(p.unknown, name)
	}
	return func(e formulaEnv) any { return e.field(name) }
}

func call(name string, args []formula, pos int) (formula, error) {
	arity := func(min, max int) error {
		if len(args) < min || (max >= 0 && len(args) > max) {
			return fmt.Errorf("wrong number of arguments to %s at position %d", name, pos)
		}
		return nil
	}
	switch name {
	case "AND", "OR":
		if err := arity(1, -1); err != nil {
			return nil, err
		}
		and := name == "AND"
		return func(e formulaEnv) any {
			for _, a := range args {
				if truthy(a(e)) != and {
					return !and
				}
			}
			return and
		}, nil
	case "NOT":
		if err := arity(1, 1); err != nil {
			return nil, err
		}
		return func(e formulaEnv) any { return !truthy(args[0](e)) }, nil
	case "IF":
		if err := arity(2, 3); err != nil {
			return nil, err
		}
		return func(e formulaEnv) any {
			if truthy(args[0](e)) {
				return args[1](e)
			}
			if len(args) == 3 {
				return args[2](e)
			}
			return nil
		}, nil
	case "TRUE", "FALSE", "BLANK", "RECORD_ID":
		if err := arity(0, 0); err != nil {
			return nil, err
		}
		switch name {
		case "TRUE":
			return func(formulaEnv) any { return true }, nil
		case "FALSE":
			return func(formulaEnv) any { return false }, nil
		case "BLANK":
			return func(formulaEnv) any { return nil }, nil
		}
		return func(e formulaEnv) any { return e.recordID }, nil
	case "IS_BEFORE", "IS_AFTER", "IS_SAME":
		// Dates compare as instants; a side that is not a date is false,
		// as Airtable treats an empty date.
		if err := arity(2, 3); err != nil {
			return nil, err
		}
		return func(e formulaEnv) any {
			a, okA := asTime(args[0](e))
			b, okB := asTime(args[1](e))
			if !okA || !okB {
				return false
			}
			switch name {
			case "IS_BEFORE":
				return a.Before(b)
			case "IS_AFTER":
				return a.After(b)
			}
			return a.Equal(b)
		}, nil
	case "LOWER", "UPPER", "TRIM", "LEN":
		if err := arity(1, 1); err != nil {
			return nil, err
		}
		return func(e formulaEnv) any {
			s := toText(args[0](e))
			switch name {
			case "LOWER":
				return strings.ToLower(s)
			case "UPPER":
				return strings.ToUpper(s)
			case "TRIM":
				return strings.TrimSpace(s)
			}
			return float64(len([]rune(s)))
		}, nil
	case "FIND":
		if err := arity(2, 2); err != nil {
			return nil, err
		}
		return func(e formulaEnv) any {
			needle, hay := toText(args[0](e)), toText(args[1](e))
			i := strings.Index(hay, needle)
			if i < 0 {
				return 0.0
			}
			return float64(len([]rune(hay[:i])) + 1)
		}, nil
	}
	return nil, fmt.Errorf("unknown function %s at position %d", name, pos)
}

// errDivZero marks a division by zero; it is falsy, like Airtable's #ERROR!.
var errDivZero = errors.New("#ERROR!")

func arith(op string, a, b any) any {
	x, okx := toNumber(a)
	y, oky := toNumber(b)
	if !okx || !oky {
		return errDivZero
	}
	switch op {
	case "+":
		return x + y
	case "-":
		return x - y
	case "*":
		return x * y
	}
	if y == 0 {
		return errDivZero
	}
	return x / y
}

// compare follows Airtable loosely: a blank equals "" and 0, numbers
// compare numerically when both sides read as numbers, and text compares
// exactly (case-sensitively).
func compare(op string, a, b any) bool {
	if _, bad := a.(error); bad {
		return false
	}
	if _, bad := b.(error); bad {
		return false
	}
	var c int
	x, okx := toNumber(a)
	y, oky := toNumber(b)
	_, as := a.(string)
	_, bs := b.(string)
	switch {
	case okx && oky && !(as && bs):
		c = cmpFloat(x, y)
	default:
		c = strings.Compare(toText(a), toText(b))
	}
	switch op {
	case "=":
		return c == 0
	case "!=", "<>":
		return c != 0
	case "<":
		return c < 0
	case ">":
		return c > 0
	case "<=":
		return c <= 0
	}
	return c >= 0
}

func cmpFloat(x, y float64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

func toNumber(v any) (float64, bool) {
	switch v := v.(type) {
	case nil:
		return 0, true
	case float64:
		return v, true
	case bool:
		if v {
			return 1, true
		}
		return 0, true
	case string:
		if strings.TrimSpace(v) == "" {
			return 0, true
		}
		n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return n, err == nil && !math.IsNaN(n)
	}
	return 0, false
}

func toText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		if v {
			return "1"
		}
		return "0"
	case error:
		return v.Error()
	}
	return fmt.Sprint(v)
}

func truthy(v any) bool {
	switch v := v.(type) {
	case nil, error:
		return false
	case bool:
		return v
	case float64:
		return v != 0
	case string:
		return v != ""
	}
	return true
}

// asTime reads a date or date-time cell or literal (ISO 8601).
func asTime(v any) (time.Time, bool) {
	str, ok := v.(string)
	if !ok {
		return time.Time{}, false
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000Z", "2006-01-02"} {
		if t, err := time.Parse(layout, str); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
