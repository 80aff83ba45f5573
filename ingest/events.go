package ingest

import (
	"sync"
	"time"
)

// Kinds of Event.
const (
	EventGap       = "gap"        // a gap record was written
	EventStall     = "stall"      // a stall was detected
	EventStallOver = "stall_over" // the stall ended
)

// eventWindow is how far back a stream's events are kept; maxEvents bounds
// them per stream, so a flapping camera costs at most maxEvents·~100 bytes.
const (
	eventWindow = time.Hour
	maxEvents   = 512
)

// Event is one gap or stall of a stream, for the console's timeline.
type Event struct {
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"`
	Reason string    `json:"reason"`
	Stage  string    `json:"stage,omitempty"`  // stalls
	GapMS  int64     `json:"gap_ms,omitempty"` // gaps
}

// eventLog is a stream's last maxEvents events. The stream's run goroutine
// (gaps) and the watchdog (stalls) add; anyone reads.
type eventLog struct {
	mu   sync.Mutex
	ring []Event // grows to maxEvents, then wraps at next
	next int
}

func (l *eventLog) add(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ring) < maxEvents {
		l.ring = append(l.ring, e)
		return
	}
	l.ring[l.next] = e
	l.next = (l.next + 1) % maxEvents
}

// since returns the events after t, oldest first.
func (l *eventLog) since(t time.Time) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Event, 0, len(l.ring))
	for i := range l.ring {
		if e := l.ring[(l.next+i)%len(l.ring)]; e.Time.After(t) {
			out = append(out, e)
		}
	}
	return out
}

// recent counts the gaps and the stalls of the last eventWindow.
func (l *eventLog) recent(now time.Time) (gaps, stalls int) {
	from := now.Add(-eventWindow)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.ring {
		if !e.Time.After(from) {
			continue
		}
		switch e.Kind {
		case EventGap:
			gaps++
		case EventStall:
			stalls++
		}
	}
	return gaps, stalls
}

// Events returns the stream id's gaps and stalls of the last hour, oldest
// first (at most 512).
func (s *Supervisor) Events(id string) ([]Event, error) {
	st, err := s.lookup(id)
	if err != nil {
		return nil, err
	}
	return st.events.since(time.Now().Add(-eventWindow)), nil
}
