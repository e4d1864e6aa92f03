package sheets_test

import (
	"testing"

	"github.com/sluicehq/sluice/internal/connector/connectortest"
	"github.com/sluicehq/sluice/internal/connector/sheets"
)

func TestSpecMatchesOptions(t *testing.T) {
	connectortest.CheckSpec(t, &sheets.Spec, sheets.Options{})
}
