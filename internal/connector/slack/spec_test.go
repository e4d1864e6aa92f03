package slack_test

import (
	"testing"

	"github.com/sluicehq/sluice/internal/connector/connectortest"
	"github.com/sluicehq/sluice/internal/connector/slack"
)

func TestSpecMatchesOptions(t *testing.T) {
	connectortest.CheckSpec(t, &slack.Spec, slack.Options{})
}
