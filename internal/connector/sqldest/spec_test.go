package sqldest_test

import (
	"testing"

	"github.com/sluicehq/sluice/internal/connector/connectortest"
	"github.com/sluicehq/sluice/internal/connector/sqldest"
)

func TestSpecMatchesOptions(t *testing.T) {
	connectortest.CheckSpec(t, &sqldest.Spec, sqldest.Options{})
}
