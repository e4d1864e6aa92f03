// Package version says which build of Sluice is running, from the build
// information the Go toolchain embeds (module version, VCS revision and
// time, Go version), so `sluice version`, /healthz and the startup log line
// agree without a release step stamping anything.
package version

import (
	"runtime/debug"
	"strings"
)

// Info is the running build.
type Info struct {
	// Version is the main module's version: a tag for `go install ...@v1.2.3`,
	// "(devel)" for a build from a checkout.
	Version string `json:"version"`
	// Revision is the VCS commit (empty when built without VCS stamping),
	// with "+dirty" when the tree had uncommitted changes.
	Revision string `json:"revision,omitempty"`
	// Time is the commit time, RFC 3339.
	Time string `json:"time,omitempty"`
	// Go is the toolchain version.
	Go string `json:"go"`
}

// Get reads the build information of the running binary.
func Get() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "unknown", Go: "unknown"}
	}
	in := Info{Version: bi.Main.Version, Go: bi.GoVersion}
	if in.Version == "" {
		in.Version = "(devel)"
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.time":
			in.Time = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && in.Revision != "" {
		in.Revision += "+dirty"
	}
	return in
}

// String is the one-line form: "sluice (devel) 1a2b3c4d5e6f+dirty 2026-12-07T12:00:00Z go1.26.8".
func (in Info) String() string {
	parts := []string{"sluice", in.Version}
	if in.Revision != "" {
		r := strings.TrimSuffix(in.Revision, "+dirty")
		if len(r) > 12 {
			r = r[:12]
		}
		if strings.HasSuffix(in.Revision, "+dirty") {
			r += "+dirty"
		}
		parts = append(parts, r)
	}
	if in.Time != "" {
		parts = append(parts, in.Time)
	}
	return strings.Join(append(parts, in.Go), " ")
}
