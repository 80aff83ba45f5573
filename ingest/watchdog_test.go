package ingest_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/earshot/earshot/ingest"
	"github.com/earshot/earshot/loadtest/loadtesttest"
	"github.com/earshot/earshot/loadtest/testkit"
	"github.com/earshot/earshot/sink/schema"
)

// testStallTimeout keeps the internal-stage tests short; a stall is held
// several times longer than it.
const testStallTimeout = 300 * time.Millisecond

// gate blocks callers of wait from the moment it is closed until it is
// opened again, once: the test's way to freeze a stage.
type gate struct {
	mu      sync.Mutex
	shut    chan struct{} // nil while open
	entered chan struct{}
	once    sync.Once
}

func newGate() *gate { return &gate{entered: make(chan struct{})} }

// close makes the next wait block until open.
func (g *gate) close() {
	g.mu.Lock()
	g.shut = make(chan struct{})
	g.mu.Unlock()
}

func (g *gate) open() {
	g.mu.Lock()
	if g.shut != nil {
		close(g.shut)
		g.shut = nil
	}
	g.mu.Unlock()
}

// wait blocks while the gate is closed; the first blocked caller closes
// entered.
func (g *gate) wait() {
	g.mu.Lock()
	ch := g.shut
	g.mu.Unlock()
	if ch == nil {
		return
	}
	g.once.Do(func() { close(g.entered) })
	<-ch
}

// internalStallCases freeze one stage inside earshot and expect the
// watchdog to name it, and the worker to attribute the audio lost to it.
var internalStallCases = []struct {
	name   string
	stage  string
	reason string
	// configure installs g on the stage, unless stepHook says g blocks
	// the worker's steps.
	configure func(cfg *ingest.Config, g *gate)
	stepHook  bool
}{
	{
		name:   "a callback worker that stops returning is callback_blocked",
		stage:  ingest.StageCallback,
		reason: schema.ReasonCallbackBlocked,
		configure: func(cfg *ingest.Config, g *gate) {
			// The observer runs on the SDK worker after each callback:
			// blocking it holds the only worker, as a blocked callback would.
			cfg.SDK.Workers, cfg.SDK.QueueLen = 1, 4
			cfg.SDK.CallbackObserver = func(time.Duration) { g.wait() }
		},
	},
	{
		name:      "a stream worker stuck on one frame is worker_stuck",
		stage:     ingest.StageWorker,
		reason:    schema.ReasonWorkerStuck,
		configure: func(cfg *ingest.Config, _ *gate) { cfg.HandoffLen = 4 },
		stepHook:  true,
	},
}

func TestWatchdogNamesTheStuckStage(t *testing.T) {
	for _, c := range internalStallCases {
		t.Run(c.name, func(t *testing.T) {
			srv := loadtesttest.Cameras(t, "pcma-1")
			ms := newMemSink()
			stalls := make(chan ingest.Stall, 16)
			diag := t.TempDir()
			cfg := ingest.Config{
				Streams:      []ingest.StreamConfig{{ID: "s1", URL: srv.URL("pcma-1"), Transport: "tcp"}},
				StallTimeout: testStallTimeout,
				OnStall:      func(s ingest.Stall) { stalls <- s },
				Diagnostics:  ingest.DiagnosticsConfig{Dir: diag},
			}
			g := newGate()
			defer g.open()
			c.configure(&cfg, g)
			sup, err := ingest.New(cfg, ms)
			if err != nil {
				t.Fatal(err)
			}
			if c.stepHook {
				ingest.SetStepHook(sup, func(string) { g.wait() })
			}
			stop := runSupervisor(t, sup)
			ms.await(t, "audio", func(r schema.Record) bool { return r.Kind == schema.KindAudio })

			g.close()
			receive(t, g.entered)
			s := receive(t, stalls)
			if s.Stage != c.stage || s.Reason != c.reason || s.Stream != "s1" {
				t.Fatalf("stall %+v, want %s at %s", s, c.reason, c.stage)
			}
			if s.For < testStallTimeout || s.For > testStallTimeout+time.Second {
				t.Errorf("detected after %s, want within a second of %s", s.For, testStallTimeout)
			}
			checkBundle(t, s)
			if st, _ := sup.StreamStats("s1"); st.Stall == nil || st.Stall.Reason != c.reason {
				t.Errorf("stream stats show stall %+v", st.Stall)
			}

			g.open()
			gap := ms.await(t, "gap", func(r schema.Record) bool { return r.Kind == schema.KindGap })
			if gap.Reason != c.reason {
				t.Errorf("gap reason %q, want %q", gap.Reason, c.reason)
			}
			ms.await(t, "audio after the gap", func(r schema.Record) bool { return r.Kind == schema.KindAudio && r.Seq > gap.Seq })
			stop()
			recs := ms.Records("s1")
			checkEpoch(t, recs[:len(recs)-1], "pcma")
			if st := sup.Stats()[0]; st.Epochs != 1 || st.Stalls != 1 {
				t.Errorf("%d epochs, %d stalls: an internal stall must not reconnect", st.Epochs, st.Stalls)
			}
		})
	}
}

// checkBundle asserts the stall's diagnostics bundle holds what it must.
func checkBundle(t *testing.T, s ingest.Stall) {
	t.Helper()
	if s.Bundle == "" {
		t.Fatal("no diagnostics bundle requested")
	}
	// The bundle is written off the watchdog, after the stall is
	// reported; its folder appears complete.
	testkit.WaitFor(t, waitTimeout, "the diagnostics bundle", func() bool {
		_, err := os.Stat(s.Bundle)
		return err == nil
	})
	var meta ingest.Stall
	b, err := os.ReadFile(filepath.Join(s.Bundle, "stall.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &meta); err != nil || meta.Reason != s.Reason {
		t.Errorf("stall.json %s: %v", b, err)
	}
	dump, err := os.ReadFile(filepath.Join(s.Bundle, "goroutines.txt"))
	if err != nil || len(dump) == 0 {
		t.Errorf("goroutine dump: %d bytes, %v", len(dump), err)
	}
	// The watchdog armed the flight recorder when the stage first ran
	// late, half a stall timeout before the stall: the trace is there.
	// (No other test of this package runs a recorder at the same time.)
	if fi, err := os.Stat(filepath.Join(s.Bundle, "trace.out")); err != nil || fi.Size() == 0 {
		t.Errorf("no trace of the stall's lead-in: %v", err)
	}
}
