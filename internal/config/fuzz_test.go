package config

import (
	"os"
	"testing"
)

// FuzzParse feeds arbitrary YAML to Parse and Validate: they must never
// panic, whatever the file holds.
func FuzzParse(f *testing.F) {
	seed, err := os.ReadFile("../../examples/sluice.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("listen: 1\nsources: {a: {signature: {scheme: x}}}\n"))
	f.Add([]byte("flows: {f: {routes: {a: {after: [b]}, b: {after: [a]}}}}"))
	f.Add([]byte("store: ${UNSET_VAR}"))
	f.Add([]byte("destinations: {d: {retry_base: 10x}}"))
	env := func(k string) (string, bool) { return "value-" + k + "-0123456789abcdef", true }
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, env)
		if err != nil {
			return
		}
		_ = c.Validate()
	})
}
