package ingest

import (
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/sluicehq/sluice/internal/httperr"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/store"
)

// TestAnswerAcceptedIsHTTPErrJSON: the accepted answer is what
// httperr.JSON writes for it, status, headers and body, whichever way
// answerAccepted takes.
func TestAnswerAcceptedIsHTTPErrJSON(t *testing.T) {
	t.Parallel()
	for _, res := range []pipeline.CaptureResult{
		{EventID: "evt_01JEXAMPLE0000000000000000", State: store.EventDelivering, Destinations: []string{"crm"}},
		{EventID: "evt_01JEXAMPLE0000000000000000", State: store.EventHeld, Missing: []string{"company"}},
		{EventID: "evt_1", State: store.EventDelivered},
		{EventID: "evt_1", State: store.EventDelivering, Released: []string{"evt_0"}},
		{EventID: "evt_<1>&\"x\"", State: store.EventDelivering},
		{EventID: "", State: ""},
	} {
		want := httptest.NewRecorder()
		httperr.JSON(want, 202, res)
		got := httptest.NewRecorder()
		answerAccepted(got, res)
		if got.Code != want.Code || got.Body.String() != want.Body.String() || !reflect.DeepEqual(got.Header(), want.Header()) {
			t.Errorf("%+v: answer %d %v %q, httperr.JSON %d %v %q", res, got.Code, got.Header(), got.Body, want.Code, want.Header(), want.Body)
		}
	}
}
