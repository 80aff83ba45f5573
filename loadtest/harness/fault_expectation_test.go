package harness

import (
	"testing"

	"github.com/earshot/earshot/loadtest"
)

func TestEveryFaultKindHasAnExpectation(t *testing.T) {
	for _, k := range loadtest.FaultKinds() {
		if _, ok := faultExpectations[k]; !ok {
			t.Errorf("no expectation for fault kind %s", k)
		}
	}
}
