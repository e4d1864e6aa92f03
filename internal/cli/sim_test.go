package cli

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func TestSimServesFivePlatforms(t *testing.T) {
	out := &lockedBuffer{}
	env := &Env{Out: out, Err: out, Getenv: func(string) string { return "" }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- Main(ctx, env, []string{"sim", "--faults", `{"errors":{"503":1}}`}) }()
	re := regexp.MustCompile(`(?m)^(hubspot|airtable|notion|slack|sheets)\s+(http://\S+)$`)
	var urls [][]string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if urls = re.FindAllStringSubmatch(out.String(), -1); len(urls) == 5 {
			break
		}
	}
	if len(urls) != 5 {
		cancel()
		t.Fatalf("sim printed %q", out.String())
	}
	for _, u := range urls {
		resp, err := http.Get(u[2] + "/_sim/faults")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s /_sim/faults: %d", u[1], resp.StatusCode)
		}
	}
	// The injected fault applies to the API.
	resp, err := http.Get(urls[0][2] + "/crm/v3/objects/contacts/1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("hubspot API with a 503 fault answered %d", resp.StatusCode)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
}
