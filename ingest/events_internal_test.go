package ingest

import (
	"testing"
	"time"
)

func TestEventLogKeepsTheLastEventsOfTheHour(t *testing.T) {
	var l eventLog
	now := time.Now()
	for i := range maxEvents + 88 {
		kind := EventGap
		if i%2 == 1 {
			kind = EventStall
		}
		// One a second, ending now: the oldest kept are over an hour ago
		// only if maxEvents seconds exceed it, which they do not.
		l.add(Event{Time: now.Add(time.Duration(i-maxEvents-87) * time.Second), Kind: kind, Reason: "r"})
	}
	ev := l.since(now.Add(-eventWindow))
	if len(ev) != maxEvents {
		t.Fatalf("%d events kept, want %d", len(ev), maxEvents)
	}
	for i := 1; i < len(ev); i++ {
		if !ev[i].Time.After(ev[i-1].Time) {
			t.Fatalf("events out of order at %d", i)
		}
	}
	if !ev[len(ev)-1].Time.Equal(now) {
		t.Errorf("last event at %v, want the newest (%v)", ev[len(ev)-1].Time, now)
	}
	if g, s := l.recent(now); g+s != maxEvents || g != maxEvents/2 {
		t.Errorf("recent: %d gaps, %d stalls", g, s)
	}
	if g, s := l.recent(now.Add(eventWindow + time.Minute)); g != 0 || s != 0 {
		t.Errorf("an hour later: %d gaps, %d stalls, want none", g, s)
	}
}

// TestSilenceIsOneStallThatEndsWithSound drives the watchdog's transition
// as a muted microphone comes back: one stall, counted and listed, no
// reconnect asked, and its end once sound (packets after the detection
// with the level above the threshold) returns.
func TestSilenceIsOneStallThatEndsWithSound(t *testing.T) {
	sup, err := New(Config{Streams: []StreamConfig{{ID: "s", URL: "rtsp://127.0.0.1:1/x"}}}, discardSink{})
	if err != nil {
		t.Fatal(err)
	}
	st := sup.streams["s"]
	c := newConn(&st.c)
	now := time.Now()
	silent := Stall{Stage: StageSource, Reason: ReasonSilentAudio, Since: now.Add(-5 * time.Minute), conn: c}
	sup.transition(st, silent, now)
	sup.transition(st, silent, now.Add(time.Second)) // still silent: nothing new
	if s := st.stats(); !s.Silent || s.Stalls != 1 {
		t.Fatalf("silent %t, %d stalls; want silent, 1", s.Silent, s.Stalls)
	}
	select {
	case s := <-c.stall:
		t.Fatalf("silent_audio asked for a reconnect: %+v", s)
	default:
	}
	st.lastPacket.Store(now.Add(2 * time.Second).UnixNano())
	sup.transition(st, Stall{}, now.Add(2*time.Second))
	if s := st.stats(); s.Silent || s.Stall != nil {
		t.Errorf("after sound: silent %t, stall %+v", s.Silent, s.Stall)
	}
	ev := st.events.since(time.Time{})
	if len(ev) != 2 || ev[0].Kind != EventStall || ev[1].Kind != EventStallOver || ev[1].Reason != ReasonSilentAudio {
		t.Errorf("events %+v, want the stall and its end", ev)
	}
	if got := sup.Stalls(); len(got) != 1 || got[0].Count != 1 {
		t.Errorf("stall counts %+v", got)
	}
}
