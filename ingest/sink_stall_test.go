package ingest_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/earshot/earshot/ingest"
	"github.com/earshot/earshot/loadtest/loadtesttest"
	"github.com/earshot/earshot/loadtest/testkit"
	"github.com/earshot/earshot/sink"
	"github.com/earshot/earshot/sink/schema"
)

// TestUnreachableBrokerIsSinkStalledNotASourceFault: with earshot's Kafka
// writer over TCP to a broker that stops answering, the watchdog reports
// one sink_stalled stall at stage sink, no source stall; the streams keep
// pulling into the spool without a gap, and everything arrives once the
// broker is back.
func TestUnreachableBrokerIsSinkStalledNotASourceFault(t *testing.T) {
	srv := loadtesttest.Cameras(t, "pcma-1", "pcmu-2")
	broker, err := sink.NewEmbeddedBroker("stall", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	w, err := sink.NewWriter(sink.WriterConfig{
		Brokers:      []string{broker.Addr()},
		Topic:        "stall",
		StallTimeout: 500 * time.Millisecond,
		WriteTimeout: time.Second,
		Spool:        sink.SpoolConfig{Dir: t.TempDir()},
		Logger:       slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	stalls := make(chan ingest.Stall, 16)
	sup, err := ingest.New(ingest.Config{
		Streams: []ingest.StreamConfig{
			{ID: "s1", URL: srv.URL("pcma-1"), Transport: "tcp"},
			{ID: "s2", URL: srv.URL("pcmu-2"), Transport: "tcp"},
		},
		OnStall: func(s ingest.Stall) { stalls <- s },
	}, w)
	if err != nil {
		t.Fatal(err)
	}
	stop := runSupervisor(t, sup)
	testkit.WaitFor(t, waitTimeout, "records delivered", func() bool { return w.Stats().Delivered > 4 })

	broker.SetReachable(false)
	s := receive(t, stalls)
	if s.Stage != ingest.StageSink || s.Reason != schema.ReasonSinkStalled || s.Stream != "" || s.Detail == "" {
		t.Fatalf("stall %+v, want one sink_stalled at stage sink with its cause", s)
	}
	spooled := w.Stats().Spooled
	testkit.WaitFor(t, waitTimeout, "audio spooled while the broker is away", func() bool { return w.Stats().Spooled > spooled+10 })
	broker.SetReachable(true)
	testkit.WaitFor(t, waitTimeout, "the spool drained", func() bool { h := w.Health(); return !h.Stalled && h.Pending < 4 })
	stop()
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case s := <-stalls:
		t.Errorf("another stall: %+v", s)
	default:
	}
	for _, st := range sup.Stats() {
		if st.Gaps != 0 || st.Stalls != 0 || st.Epochs != 1 {
			t.Errorf("%s: %d gaps, %d stalls, %d epochs: the streams must not notice the broker", st.ID, st.Gaps, st.Stalls, st.Epochs)
		}
	}
}
