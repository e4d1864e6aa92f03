package httpdest_test

import (
	"testing"

	"github.com/sluicehq/sluice/internal/connector/connectortest"
	"github.com/sluicehq/sluice/internal/connector/httpdest"
)

func TestSpecMatchesOptions(t *testing.T) {
	connectortest.CheckSpec(t, &httpdest.Spec, httpdest.Options{})
}
