package ingest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/loadtest/testkit"
	"github.com/earshot/earshot/sink/schema"

	"github.com/earshot/earshot/ingest"
	"github.com/earshot/earshot/loadtest"
)

// inflationCases are the synthetic camera's faults that would make a
// stream produce more audio than real time: each must leave the stream's
// audio within 1.1x what the RTP timestamps sent imply and within 1.1x
// the wall clock (plus the 2 s a clock may run ahead), record its reason,
// and leave the control stream alone.
var inflationCases = []struct {
	name  string
	fault loadtest.Fault // Stream is set to "cam"
	// gap is the reason a gap record must carry, "" for none.
	gap string
	// counter is what the fault must have counted.
	counter     string
	count       func(ingest.StreamStats) uint64
	sameEpoch   bool
	warnedOnce  string // a log line at WARN that must appear exactly once
	rtpBoundOff bool   // the RTP clock runs ahead: only the wall clock bounds the audio
}{
	{name: "payloads 8.75 times their slot are trimmed to it in the same epoch",
		fault:   loadtest.Fault{Kind: loadtest.FaultOversizedPayload, Size: 1400, Duration: 3 * time.Second},
		counter: "trimmed", count: func(s ingest.StreamStats) uint64 { return s.Trimmed }, sameEpoch: true},
	{name: "a clock 10 times too fast ends sessions and the stream stays at real time",
		fault: loadtest.Fault{Kind: loadtest.FaultFastClock, Speed: 10, Duration: 4 * time.Second},
		gap:   schema.ReasonClockTooFast, counter: "clock_too_fast", count: func(s ingest.StreamStats) uint64 { return s.ClockTooFast },
		warnedOnce: ingest.ErrClockTooFast.Error(), rtpBoundOff: true},
}

func TestFaultsThatInflateAudio(t *testing.T) {
	for _, c := range inflationCases {
		t.Run(c.name, func(t *testing.T) {
			srv := startFaultCameras(t, loadtest.StreamSpec{Name: "cam", Codec: "pcma"}, false)
			logs := &testkit.SyncBuffer{}
			ms := newMemSink()
			sup, err := ingest.New(faultConfig(srv.URL("cam"), "tcp", srv.URL("control"), logs), ms)
			if err != nil {
				t.Fatal(err)
			}
			sent0 := srv.PacketsSent("cam")
			begin := time.Now()
			stop := runSupervisor(t, sup)
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("stats: %+v\nlogs:\n%s", sup.Stats(), logs)
				}
			})
			awaitAudio(t, ms, "cam", begin)
			awaitAudio(t, ms, "control", begin)
			f := c.fault
			f.Stream = "cam"
			if _, err := srv.Inject(f); err != nil {
				t.Fatal(err)
			}
			ev := faultEvent(t, srv, waitTimeout)
			awaitAudio(t, ms, "cam", ev.Ended)
			stop()
			wall := time.Since(begin)
			sent := srv.PacketsSent("cam") - sent0

			recs := ms.Records("cam")
			epochs := splitEpochs(recs)
			for _, e := range epochs {
				checkEpoch(t, e, "pcma")
			}
			if c.sameEpoch && len(epochs) != 1 {
				t.Errorf("%d epochs, want the stream to ride the fault out in one", len(epochs))
			}
			var samples int64
			gaps := map[string]int{}
			for _, r := range recs {
				switch r.Kind {
				case schema.KindAudio:
					samples += int64(len(r.PCM) / 2)
				case schema.KindGap:
					gaps[r.Reason]++
				}
			}
			played := time.Duration(samples) * time.Second / 16000
			implied := time.Duration(sent) * 20 * time.Millisecond
			t.Logf("%s of audio in %s; the %d packets sent imply %s; gaps %v", played.Round(time.Millisecond), wall.Round(time.Millisecond), sent, implied, gaps)
			if !c.rtpBoundOff && played > implied*11/10 {
				t.Errorf("%s of audio, over 1.1x the %s the RTP timestamps imply", played, implied)
			}
			if limit := wall*11/10 + 2*time.Second; played > limit {
				t.Errorf("%s of audio in %s, over 1.1x the wall clock + 2 s (%s)", played, wall, limit)
			}
			if c.gap != "" && gaps[c.gap] == 0 {
				t.Errorf("no %s gap (gaps %v)", c.gap, gaps)
			}
			st, _ := sup.StreamStats("cam")
			if c.count(st) == 0 {
				t.Errorf("nothing counted %s: %+v", c.counter, st)
			}
			if c.warnedOnce != "" {
				n := 0
				for _, l := range strings.Split(logs.String(), "\n") {
					if strings.Contains(l, "level=WARN") && strings.Contains(l, c.warnedOnce) {
						n++
					}
				}
				if n != 1 {
					t.Errorf("%d warnings of %q, want 1", n, c.warnedOnce)
				}
			}
			checkUnaffected(t, ms.Records("control"), wall)
			if cs, _ := sup.StreamStats("control"); cs.Stalls != 0 || cs.Trimmed != 0 || cs.ClockTooFast != 0 {
				t.Errorf("control stream: %d stalls, %d trimmed, %d clock_too_fast", cs.Stalls, cs.Trimmed, cs.ClockTooFast)
			}
		})
	}
}
