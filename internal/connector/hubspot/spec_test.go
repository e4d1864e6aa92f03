package hubspot_test

import (
	"testing"

	"github.com/sluicehq/sluice/internal/connector/connectortest"
	"github.com/sluicehq/sluice/internal/connector/hubspot"
)

func TestSpecMatchesOptions(t *testing.T) {
	connectortest.CheckSpec(t, &hubspot.Spec, hubspot.Options{})
}
