package sim

import (
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"time"
)

// Running is a simulator serving on a listener.
type Running struct {
	// URL is the base URL clients use, e.g. http://127.0.0.1:54321.
	URL  string
	srv  *http.Server
	done chan struct{}
}

// Serve serves h on ln in the background until Close. It is what
// `sluice sim` and the demo use; tests use simtest.Start.
func Serve(ln net.Listener, h http.Handler) *Running {
	r := &Running{
		URL: "http://" + ln.Addr().String(),
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			// Dropped connections (the timeout_after_write fault) are the
			// point, not news.
			ErrorLog: log.New(io.Discard, "", 0),
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(r.done)
		_ = r.srv.Serve(ln)
	}()
	return r
}

// Close stops the server at once: open connections are closed, so requests
// held by a fault end too.
func (r *Running) Close() error {
	err := r.srv.Close()
	<-r.done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
