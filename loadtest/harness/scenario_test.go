package harness

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/loadtest"
)

// scenarioCases: YAML scenarios, and what ParseScenario and newPlan say.
var scenarioCases = []struct {
	name string
	yaml string
	err  string // substring of the error; "" for none
}{
	{"the zero scenario with a duration is four Opus streams", "duration: 5s", ""},
	{"a codec mix with ramp-up, churn and a fault", `
duration: 30s
streams: 3
codecs: [opus, pcma]
ramp_up: 2
churn: [{at: 10s, add: 2}, {at: 20s, remove: 1}]
faults: [{stream: s0002, kind: silent, at: 5s, duration: 3s}]`, ""},
	{"an unknown key is refused", "duration: 5s\nstreamz: 3", "field streamz not found"},
	{"an unknown codec is refused", "duration: 5s\ncodecs: [mp3]", `codec "mp3"`},
	{"a bad transport is refused", "duration: 5s\ntransport: quic", `transport "quic"`},
	{"too many streams are refused", "duration: 5s\nstreams: 100000", "streams 100000 is not in [1, 5000]"},
	{"empty churn is refused", "duration: 5s\nchurn: [{at: 1s}]", "churn[0]"},
	{"a fault on a stream not yet added is refused", `
duration: 30s
streams: 2
ramp_up: 0.1
faults: [{stream: s0002, kind: silent, at: 5s, duration: 1s}]`, "the stream does not run then"},
	{"a fault after the end is refused", "duration: 5s\nfaults: [{stream: s0001, kind: silent, at: 6s}]", "after the end"},
	{"removing more streams than run is refused", "duration: 5s\nstreams: 2\nchurn: [{at: 1s, remove: 3}]", "removes 3 streams, 2 run"},
	{"a bad capacity is refused", "capacity: {start: 10, max: 5}", "capacity: start 10"},
	{"a fleet with a fault of each instance kind", `
duration: 30s
instances: 3
instance_faults:
  - {instance: 1, kind: kill, at: 5s}
  - {instance: 2, kind: term, at: 10s}
  - {instance: 3, kind: stop, at: 15s, duration: 5s}
  - {instance: 3, kind: restart, at: 22s, duration: 2s}`, ""},
	{"an instance fault without a fleet is refused", "duration: 5s\ninstance_faults: [{instance: 1, kind: kill, at: 1s}]", "instance faults need a fleet"},
	{"an instance beyond the fleet is refused", "duration: 5s\ninstances: 2\ninstance_faults: [{instance: 3, kind: stop, at: 1s}]",
		"instance 3 is not in [1, 2]"},
	{"a stop without a duration is refused", "duration: 5s\ninstances: 2\ninstance_faults: [{instance: 1, kind: stop, at: 1s}]", "stop needs a duration"},
	{"an unknown instance fault kind is refused", "duration: 5s\ninstances: 2\ninstance_faults: [{instance: 1, kind: reboot, at: 1s}]", `kind "reboot" is not one of kill, term, stop, restart`},
	{"an instance fault after the end is refused", "duration: 5s\ninstances: 2\ninstance_faults: [{instance: 1, kind: kill, at: 6s}]", "after the end of the run"},
}

func TestParseScenario(t *testing.T) {
	for _, tc := range scenarioCases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseScenario([]byte(tc.yaml))
			if err == nil {
				_, err = newPlan(s)
			}
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			case err != nil && !errors.Is(err, ErrInvalidScenario):
				t.Errorf("error %v does not wrap ErrInvalidScenario", err)
			}
		})
	}
}

func TestBuiltinScenariosLoadAndPlan(t *testing.T) {
	for _, name := range loadtest.ScenarioNames() {
		s, err := LoadScenario(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := newPlan(s); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if s.Name != name || s.Description == "" {
			t.Errorf("%s: name %q, description %q", name, s.Name, s.Description)
		}
	}
	if _, err := LoadScenario("nonesuch"); err == nil || !strings.Contains(err.Error(), "smoke") {
		t.Errorf("an unknown name: %v, want an error listing the built-in ones", err)
	}
}

func TestPlanRampsChurnsAndSchedules(t *testing.T) {
	s, err := ParseScenario([]byte(scenarioCases[1].yaml))
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPlan(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.initial) != 1 || p.initial[0] != "s0001" {
		t.Errorf("initial streams %v, want [s0001]: the others are ramped up", p.initial)
	}
	var got []string
	for _, e := range p.events {
		switch e.Kind {
		case eventAdd:
			got = append(got, "add "+e.Stream+"@"+e.At.String())
		case eventRemove:
			got = append(got, "remove "+e.Stream+"@"+e.At.String())
		case eventFault:
			got = append(got, string(e.Fault.Kind)+"@"+e.At.String())
		}
	}
	want := []string{"add s0002@500ms", "add s0003@1s", "silent@5s", "add s0004@10s", "add s0005@10s", "remove s0005@20s"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("events %v, want %v", got, want)
	}
	for name, codec := range map[string]string{"s0001": "opus", "s0002": "pcma", "s0005": "opus"} {
		if c := p.codec(name); c != codec {
			t.Errorf("%s: codec %s, want %s", name, c, codec)
		}
	}
	if d := p.rampEnd(s); d != time.Second {
		t.Errorf("ramp ends at %v, want 1s", d)
	}
}
