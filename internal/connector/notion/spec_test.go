package notion_test

import (
	"testing"

	"github.com/sluicehq/sluice/internal/connector/connectortest"
	"github.com/sluicehq/sluice/internal/connector/notion"
)

func TestSpecMatchesOptions(t *testing.T) {
	connectortest.CheckSpec(t, &notion.Spec, notion.Options{})
}
