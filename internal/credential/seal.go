package credential

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// KeyEnv is the environment variable holding the key that seals tokens in
// the store: 32 bytes, as base64 or hex. It is read from the environment
// only, never from the config file, and never logged.
const KeyEnv = "SLUICE_CREDENTIAL_KEY"

// Sealer encrypts token sets with AES-256-GCM. The credential's name is the
// additional data, so a sealed value copied to another credential's row
// does not open.
type Sealer struct{ aead cipher.AEAD }

// NewSealer builds a Sealer from a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("credential key: %d bytes, want 32 (AES-256)", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// SealerFromEnv reads KeyEnv (through getenv; os.Getenv when nil).
func SealerFromEnv(getenv func(string) string) (*Sealer, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	v := strings.TrimSpace(getenv(KeyEnv))
	if v == "" {
		return nil, fmt.Errorf("%s is not set: destinations with a credential block store the tokens they obtain encrypted with this key (32 bytes, base64 or hex; e.g. `openssl rand -base64 32`)", KeyEnv)
	}
	if b, err := hex.DecodeString(v); err == nil && len(b) == 32 {
		return NewSealer(b)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(v); err == nil && len(b) == 32 {
			return NewSealer(b)
		}
	}
	return nil, fmt.Errorf("%s: not 32 bytes of base64 or hex", KeyEnv)
}

// Seal encrypts plain for the credential name: nonce || ciphertext.
func (s *Sealer) Seal(name string, plain []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("credential: no randomness: " + err.Error())
	}
	return s.aead.Seal(nonce, nonce, plain, []byte(name))
}

// Open decrypts what Seal sealed for name; a wrong key or a value of
// another credential fails.
func (s *Sealer) Open(name string, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, errors.New("credential: sealed value too short")
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(name))
	if err != nil {
		return nil, fmt.Errorf("credential %s: cannot open the stored tokens (was %s changed?)", name, KeyEnv)
	}
	return plain, nil
}
