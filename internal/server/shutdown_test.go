package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/server"
	"github.com/sluicehq/sluice/internal/store/storesqlite"
)

// TestShutdownDrains: on stop, new requests get 503 with Retry-After, and
// the delivery in flight finishes and is recorded before Run returns.
func TestShutdownDrains(t *testing.T) {
	hold := make(chan struct{})
	h := startReloadWith(t, "", hold)
	code, res := h.sendID("drain-1", `{"contact":{"email":"drain@example.com"},"company":"Acme"}`, nil)
	if code != http.StatusAccepted {
		t.Fatalf("send: %d %v", code, res)
	}
	<-h.psink.arrived // the attempt is in flight, held by the sink
	h.cancel()
	// Run is draining: wait for it to refuse a new request.
	for {
		rec := httptest.NewRecorder()
		h.srv.Handler.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/sources/forms/events", strings.NewReader(`{}`)))
		if rec.Code == http.StatusServiceUnavailable {
			if rec.Header().Get("Retry-After") != "5" || !strings.Contains(rec.Body.String(), "shutting_down") {
				t.Fatalf("draining answer: %d %q %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
			}
			break
		}
		runtime.Gosched()
	}
	close(hold)
	if err := <-h.done; err != nil {
		t.Fatal(err)
	}
	h.done <- nil // for the cleanup
	rep := h.srv.ShutdownReport()
	if rep.InFlight != 1 || rep.Finished != 1 || rep.Left != 0 {
		t.Fatalf("report %+v", rep)
	}
	if !strings.Contains(rep.String(), "1 deliveries in flight, 1 finished, none left") {
		t.Fatalf("report text %q", rep)
	}
	if n, _ := h.psink.get("/crm", "drain@example.com"); n != 1 {
		t.Fatalf("effects %d", n)
	}
	ev, err := h.srv.Driver.Executor().EventGetByID(context.Background(), res["event_id"].(string))
	if err != nil || ev.State != "delivered" {
		t.Fatalf("event after drain: %+v %v", ev, err)
	}
}

// TestShutdownTimeoutLeavesLeased: an attempt still running at the
// shutdown timeout is left leased for the next start, and the report says
// so.
func TestShutdownTimeoutLeavesLeased(t *testing.T) {
	hold := make(chan struct{})
	h := startReloadWith(t, "shutdown_timeout: 50ms\n", hold)
	code, res := h.sendID("stuck-1", `{"contact":{"email":"stuck@example.com"},"company":"Acme"}`, nil)
	if code != http.StatusAccepted {
		t.Fatalf("send: %d %v", code, res)
	}
	<-h.psink.arrived
	h.cancel()
	if err := <-h.done; err != nil {
		t.Fatal(err)
	}
	h.done <- nil
	rep := h.srv.ShutdownReport()
	if rep.InFlight != 1 || rep.Finished != 0 || rep.Left != 1 || !strings.Contains(rep.String(), "1 still running after 50ms left leased") {
		t.Fatalf("report %+v: %s", rep, rep)
	}
	ds, err := h.srv.Driver.Executor().DeliveryListByEvent(context.Background(), res["event_id"].(string))
	if err != nil || len(ds) != 1 || ds[0].State != "inflight" {
		t.Fatalf("delivery after timeout: %v %v", ds, err)
	}
	close(hold)
}

// TestSecondServerOnOneSQLiteFileRefused: a second server on the same
// SQLite file does not start; once the first closes, one may.
func TestSecondServerOnOneSQLiteFileRefused(t *testing.T) {
	h := startReload(t)
	c, err := config.Load(h.path)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	_, err = server.New(context.Background(), c, log)
	if !errors.Is(err, storesqlite.ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("is served by another process (pid %d)", pidSelf())) ||
		!strings.Contains(err.Error(), h.db+".lock") {
		t.Fatalf("second server: %v", err)
	}
	h.cancel()
	<-h.done
	h.done <- nil
	h.srv.Close()
	again, err := server.New(context.Background(), c, log)
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	again.Close()
}

func pidSelf() int { return os.Getpid() }
