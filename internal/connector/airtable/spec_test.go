package airtable_test

import (
	"testing"

	"github.com/sluicehq/sluice/internal/connector/connectortest"
	"github.com/sluicehq/sluice/internal/connector/airtable"
)

func TestSpecMatchesOptions(t *testing.T) {
	connectortest.CheckSpec(t, &airtable.Spec, airtable.Options{})
}
