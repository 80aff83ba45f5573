package loadtest

import (
	"slices"
	"strings"
	"testing"

	"github.com/earshot/earshot/sink/schema"
)

func TestEveryFaultKindHasAnExpectation(t *testing.T) {
	kinds := FaultKinds()
	for _, k := range kinds {
		if _, ok := k.Expectation(); !ok {
			t.Errorf("fault kind %s has no expectation", k)
		}
	}
	for k := range faultExpectations {
		if !slices.Contains(kinds, k) {
			t.Errorf("expectation for %s, which is not a fault kind", k)
		}
	}
	if _, ok := FaultKind("lightning").Expectation(); ok {
		t.Error("an unknown kind has an expectation")
	}
}

func TestFaultExpectationExplains(t *testing.T) {
	for _, tc := range []struct {
		kind   FaultKind
		reason string
		want   bool
	}{
		{FaultSilent, schema.ReasonNoRTP, true},
		{FaultSilent, schema.ReasonBetweenEpochs, true},
		{FaultSilent, schema.ReasonDisconnected, true},
		{FaultSilent, schema.ReasonRTCPOnly, false},
		{FaultTCPReset, schema.ReasonDisconnected, true},
		{FaultTCPReset, schema.ReasonHandoffDrop, false},
		{FaultUDPLoss, schema.ReasonRTPLoss, true},
		{FaultUDPLoss, schema.ReasonUnreported, false},
		{FaultGarbage, "", false},
		{FaultGarbage, schema.ReasonDecodeError, true},
		{FaultGarbage, schema.ReasonSinkDrop, false},
	} {
		e, _ := tc.kind.Expectation()
		if got := e.Explains(tc.reason); got != tc.want {
			t.Errorf("%s explains %q: %v, want %v", tc.kind, tc.reason, got, tc.want)
		}
	}
}

// TestFaultExpectationTable reads the markdown table back: every fault kind
// in exactly one row, with its own required and allowed reasons.
func TestFaultExpectationTable(t *testing.T) {
	table := FaultExpectationTable()
	lines := strings.Split(strings.TrimSuffix(table, "\n"), "\n")
	if len(lines) < 3 || lines[0] != "| fault | must leave | may also leave |" || lines[1] != "|---|---|---|" {
		t.Fatalf("table header:\n%s", table)
	}
	unquote := func(cell string) []string {
		var out []string
		for _, f := range strings.Split(strings.TrimSpace(cell), ", ") {
			if f != "" {
				out = append(out, strings.Trim(f, "`"))
			}
		}
		return out
	}
	seen := map[FaultKind]bool{}
	for _, line := range lines[2:] {
		cells := strings.Split(line, "|")
		if len(cells) != 5 || cells[0] != "" || cells[4] != "" {
			t.Fatalf("row %q does not have 3 cells", line)
		}
		required := unquote(cells[2])
		if slices.Equal(required, []string{"nothing"}) {
			required = nil
		}
		allowed := unquote(cells[3])
		for _, k := range unquote(cells[1]) {
			kind := FaultKind(k)
			if seen[kind] {
				t.Errorf("%s appears in two rows", kind)
			}
			seen[kind] = true
			e, ok := kind.Expectation()
			if !ok {
				t.Errorf("row %q names unknown kind %s", line, kind)
				continue
			}
			if want := unquote(code(e.Required)); e.Required == "" && required != nil || e.Required != "" && !slices.Equal(required, want) {
				t.Errorf("%s must leave %v in the table, want %q", kind, required, e.Required)
			}
			if !slices.Equal(allowed, e.Allowed) {
				t.Errorf("%s may leave %v in the table, want %v", kind, allowed, e.Allowed)
			}
		}
	}
	for _, k := range FaultKinds() {
		if !seen[k] {
			t.Errorf("%s is missing from the table", k)
		}
	}
	if !strings.Contains(table, "| `udp_loss` | `rtp_loss` | |\n") {
		t.Errorf("a fault that may leave nothing else has an empty last cell:\n%s", table)
	}
}
