package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// Version is the content hash of the effective config: the parsed file
// after ${VAR} expansion and defaults, plus the contents of the schema
// files it names. Two configs that behave the same have the same version;
// editing a comment does not change it, editing a mapping or a secret does.
// Events record the version that captured them, and reloads are audited
// with the old and new version, so "which config did this?" has an answer.
//
// The hash covers expanded secrets (a rotated secret is a change worth
// recording) but only its first 16 hex digits are kept; it is an
// identifier, not a fingerprint that could be searched for a secret.
func (c *Config) Version() (string, error) {
	cp := *c
	cp.Dir = ""
	body, err := json.Marshal(&cp)
	if err != nil {
		return "", fmt.Errorf("config version: %w", err)
	}
	h := sha256.New()
	h.Write(body)
	for _, en := range sortedKeys(c.Entities) {
		e := c.Entities[en]
		if e == nil || e.SchemaFile == "" {
			continue
		}
		doc, err := c.SchemaJSON(en)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "\x00schema:%s\x00", en)
		h.Write(doc)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}
