//go:build !unix

package pipeline_test

import "time"

// processCPU is not measured here; CPU figures read 0.
func processCPU() time.Duration { return 0 }
