package airtable_test

import (
	"testing"

	"github.com/sluicehq/sluice/internal/connector/airtable"
	"github.com/sluicehq/sluice/internal/connector/connectortest"
)

func TestSpecMatchesOptions(t *testing.T) {
	connectortest.CheckSpec(t, &airtable.Spec, airtable.Options{})
}
