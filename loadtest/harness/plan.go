package harness

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/earshot/earshot/loadtest"
)

// plan is a scenario laid out in time: every stream the cameras serve,
// which ones earshot is configured with at start, and the events (adds,
// removes, faults) at their times from the start of the run.
type plan struct {
	streams []plannedStream
	byName  map[string]int
	initial []string // in earshot's configuration from the start
	events  []event  // sorted by At
	video   bool
}

// plannedStream is one synthetic camera of the run.
type plannedStream struct {
	Name  string
	Codec string
}

type eventKind int

const (
	eventAdd eventKind = iota
	eventRemove
	eventFault
	eventInstance
)

// event is something the harness does At after the start.
type event struct {
	At     time.Duration
	Kind   eventKind
	Stream string         // add and remove
	Fault  loadtest.Fault // fault
	// Instance is an instance fault.
	Instance InstanceFault
}

// streamName names the i-th stream (from 0) of a run.
func streamName(i int) string { return fmt.Sprintf("s%04d", i+1) }

// newPlan lays out s. It checks that every fault names a stream that runs
// when the fault begins.
func newPlan(s *Scenario) (*plan, error) {
	p := &plan{byName: make(map[string]int), video: s.Video}
	add := func() string {
		i := len(p.streams)
		name := streamName(i)
		p.streams = append(p.streams, plannedStream{Name: name, Codec: s.Codecs[i%len(s.Codecs)]})
		p.byName[name] = i
		return name
	}
	for i := range s.Streams {
		name := add()
		if i == 0 || s.RampUp == 0 {
			p.initial = append(p.initial, name)
			continue
		}
		p.events = append(p.events, event{At: rampTime(i, s.RampUp), Kind: eventAdd, Stream: name})
	}
	// Churn in time order, so that removals take the streams running then.
	churn := slices.Clone(s.Churn)
	slices.SortStableFunc(churn, func(a, b Churn) int { return int(a.At - b.At) })
	running := func(at time.Duration) []string {
		out := slices.Clone(p.initial)
		for _, e := range p.events {
			switch {
			case e.At > at:
			case e.Kind == eventAdd:
				out = append(out, e.Stream)
			case e.Kind == eventRemove:
				out = slices.DeleteFunc(out, func(n string) bool { return n == e.Stream })
			}
		}
		return out
	}
	for i, c := range churn {
		up := running(c.At)
		for range c.Add {
			p.events = append(p.events, event{At: c.At, Kind: eventAdd, Stream: add()})
		}
		if c.Remove > len(up) {
			return nil, fmt.Errorf("%w: churn at %v removes %d streams, %d run then (churn[%d])", ErrInvalidScenario, c.At, c.Remove, len(up), i)
		}
		for _, name := range up[len(up)-c.Remove:] {
			p.events = append(p.events, event{At: c.At, Kind: eventRemove, Stream: name})
		}
	}
	for i, f := range s.Faults {
		if f.Stream != "" && !slices.Contains(running(f.At), f.Stream) {
			return nil, fmt.Errorf("%w: faults[%d] (%s) at %v: the stream does not run then", ErrInvalidScenario, i, f, f.At)
		}
		if s.Duration > 0 && f.At >= s.Duration {
			return nil, fmt.Errorf("%w: faults[%d] (%s) at %v: after the end of the run (%v)", ErrInvalidScenario, i, f, f.At, s.Duration)
		}
		p.events = append(p.events, event{At: f.At, Kind: eventFault, Fault: f})
	}
	for i, f := range s.InstanceFaults {
		if s.Duration > 0 && f.At >= s.Duration {
			return nil, fmt.Errorf("%w: instance_faults[%d] (%s): after the end of the run (%v)", ErrInvalidScenario, i, f, s.Duration)
		}
		p.events = append(p.events, event{At: f.At, Kind: eventInstance, Instance: f})
	}
	slices.SortStableFunc(p.events, func(a, b event) int { return int(a.At - b.At) })
	return p, nil
}

// capacityPlan serves max streams of one codec; start of them are in
// earshot's configuration, the capacity run adds the others.
func capacityPlan(codec string, start, max int) *plan {
	p := &plan{byName: make(map[string]int)}
	for i := range max {
		name := streamName(i)
		p.streams = append(p.streams, plannedStream{Name: name, Codec: codec})
		p.byName[name] = i
		if i < start {
			p.initial = append(p.initial, name)
		}
	}
	return p
}

// rampTime is when the i-th stream is added at rate streams per second.
func rampTime(i int, rate float64) time.Duration {
	return time.Duration(math.Round(float64(i) / rate * float64(time.Second)))
}

// rampEnd is when the last stream of the initial ramp is added.
func (p *plan) rampEnd(s *Scenario) time.Duration {
	if s.RampUp == 0 {
		return 0
	}
	return rampTime(s.Streams-1, s.RampUp)
}

// specs returns the synthetic cameras of the plan.
func (p *plan) specs() []loadtest.StreamSpec {
	out := make([]loadtest.StreamSpec, len(p.streams))
	for i, st := range p.streams {
		out[i] = loadtest.StreamSpec{Name: st.Name, Codec: st.Codec, Video: p.video}
	}
	return out
}

// codec returns the codec of the stream called name.
func (p *plan) codec(name string) string {
	if i, ok := p.byName[name]; ok {
		return p.streams[i].Codec
	}
	return ""
}
