//go:build gstreamer

package ingest_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/earshot/earshot/ingest"
	"github.com/earshot/earshot/ingest/sdk/gst"
	"github.com/earshot/earshot/loadtest/loadtesttest"
	"github.com/earshot/earshot/loadtest/testkit"
	"github.com/earshot/earshot/sink/schema"
)

func TestEveryCodecFlowsThroughGStreamer(t *testing.T) {
	everyCodecFlows(t, ingest.BackendGStreamer)
}

// TestGStreamerStartsWhenAStreamFirstNeedsIt: a supervisor whose streams
// all use gortsplib does not start GStreamer (its plugin registry costs
// ~4.5 MiB of PSS); the first stream added through it starts it, and
// flows.
func TestGStreamerStartsWhenAStreamFirstNeedsIt(t *testing.T) {
	srv := loadtesttest.Cameras(t, "pcmu-a", "pcmu-b")
	ms := newMemSink()
	sup, err := ingest.New(ingest.Config{Streams: []ingest.StreamConfig{
		{ID: "a", URL: srv.URL("pcmu-a"), Transport: "tcp"},
	}}, ms)
	if err != nil {
		t.Fatal(err)
	}
	runSupervisor(t, sup)
	ms.await(t, "audio of the gortsplib stream", func(r schema.Record) bool {
		return r.Stream == "a" && r.Kind == schema.KindAudio
	})
	if ingest.GStreamerStarted(sup) {
		t.Fatal("GStreamer started though no stream uses it")
	}
	if err := sup.Add(t.Context(), ingest.StreamConfig{ID: "b", URL: srv.URL("pcmu-b"), Transport: "tcp", Backend: ingest.BackendGStreamer}); err != nil {
		t.Fatal(err)
	}
	ms.await(t, "audio of the stream added through GStreamer", func(r schema.Record) bool {
		return r.Stream == "b" && r.Kind == schema.KindAudio
	})
	if !ingest.GStreamerStarted(sup) {
		t.Fatal("stream b flowed, but GStreamer did not start")
	}
}

// TestGStreamerLibrariesThatCannotBeLoaded runs in a child process whose
// libgstreamer-1.0.so.0 is an empty file, which the dynamic loader refuses:
// Run fails with its reason when a configured stream uses GStreamer; a
// stream added later fails with it, and the gortsplib stream flows on.
func TestGStreamerLibrariesThatCannotBeLoaded(t *testing.T) {
	if !testkit.InChild(t, "LD_LIBRARY_PATH="+testkit.UnloadableLibrary(t, "libgstreamer-1.0.so.0")) {
		return
	}
	srv := loadtesttest.Cameras(t, "pcmu-a", "pcmu-b")
	a := ingest.StreamConfig{ID: "a", URL: srv.URL("pcmu-a"), Transport: "tcp"}
	b := ingest.StreamConfig{ID: "b", URL: srv.URL("pcmu-b"), Transport: "tcp", Backend: ingest.BackendGStreamer}
	// The loader names the file it refused: the parent's.
	refused := filepath.Join(os.Getenv("LD_LIBRARY_PATH"), "libgstreamer-1.0.so.0")
	want := gst.ErrLibrariesUnavailable.Error() + ": " + refused + ": file too short"

	sup, err := ingest.New(ingest.Config{Streams: []ingest.StreamConfig{a, b}}, newMemSink())
	if err != nil {
		t.Fatal(err)
	}
	if err := sup.Run(t.Context()); !errors.Is(err, gst.ErrLibrariesUnavailable) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Run with a GStreamer stream = %v, want %q", err, want)
	}

	ms := newMemSink()
	sup, err = ingest.New(ingest.Config{Streams: []ingest.StreamConfig{a}}, ms)
	if err != nil {
		t.Fatal(err)
	}
	runSupervisor(t, sup)
	ms.await(t, "audio of the gortsplib stream", func(r schema.Record) bool {
		return r.Stream == "a" && r.Kind == schema.KindAudio
	})
	if err := sup.Add(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, waitTimeout, "stream b to fail with "+want, func() bool {
		st, err := sup.StreamStats("b")
		return err == nil && strings.Contains(st.LastError, want)
	})
	if ingest.GStreamerStarted(sup) {
		t.Error("GStreamer started without its libraries")
	}
	if st, err := sup.StreamStats("a"); err != nil || st.State != ingest.StateStreaming {
		t.Errorf("stream a: %+v, %v; want it streaming on", st, err)
	}
}

// TestGStreamerOptionsAreValidatedWithTheConfig: since GStreamer starts
// only when a stream needs it, its options are checked by New, not when
// the first such stream opens.
func TestGStreamerOptionsAreValidatedWithTheConfig(t *testing.T) {
	_, err := ingest.New(ingest.Config{GStreamer: gst.Options{QueueLen: 70000}}, newMemSink())
	if err == nil || !strings.Contains(err.Error(), "gstreamer: QueueLen must be between 1 and 65536, got 70000") {
		t.Errorf("New: %v, want the GStreamer option named", err)
	}
}

// TestAHeldSinkStallsOnlyItsOwnGStreamerStream: with ingest.backend
// gstreamer, one stream's sink writes block; earshot's adapter keeps
// taking its frames off GStreamer's threads (dropping and counting them),
// and the other stream keeps flowing.
func TestAHeldSinkStallsOnlyItsOwnGStreamerStream(t *testing.T) {
	srv := loadtesttest.Cameras(t, "pcmu-held", "pcmu-free")
	ms := newMemSink()
	sup, err := ingest.New(ingest.Config{Backend: ingest.BackendGStreamer, Streams: []ingest.StreamConfig{
		{ID: "held", URL: srv.URL("pcmu-held"), Transport: "tcp"},
		{ID: "free", URL: srv.URL("pcmu-free"), Transport: "tcp"},
	}}, ms)
	if err != nil {
		t.Fatal(err)
	}
	release := ms.Hold("held")
	defer release()
	runSupervisor(t, sup)
	n := 0
	ms.await(t, "2 s of the free stream while the other is held", func(r schema.Record) bool {
		if r.Stream == "free" && r.Kind == schema.KindAudio {
			n++
		}
		return n >= 10
	})
	testkit.WaitFor(t, waitTimeout, "the held stream's handoff dropping", func() bool {
		st, err := sup.StreamStats("held")
		return err == nil && st.HandoffDropped > 0
	})
	free, _ := sup.StreamStats("free")
	if free.HandoffDropped != 0 || free.Gaps != 0 {
		t.Errorf("free stream: %d handoff drops, %d gaps", free.HandoffDropped, free.Gaps)
	}
}

// TestTransportsAuthAndTLSThroughGStreamer: TCP, UDP, auto, basic and
// digest authentication, and rtsps trusted through a CA file, insecurely
// or not at all, as with gortsplib.
func TestTransportsAuthAndTLSThroughGStreamer(t *testing.T) {
	runTransportCases(t, ingest.BackendGStreamer)
}

// TestFaultsThroughGStreamer runs the fault suite with the faulted camera
// pulled through GStreamer, the control stream through gortsplib.
func TestFaultsThroughGStreamer(t *testing.T) {
	runFaults(t, ingest.BackendGStreamer, gstFaultDifferences)
}

// gstFaultDifferences are the fault cases whose outcome differs by design
// with GStreamer, and why.
var gstFaultDifferences = map[string]string{
	"garbage on the interleaved channel is skipped": "rtspsrc ends the connection on unparsable interleaved data " +
		"(\"Could not read from resource\"): earshot reconnects within 0.1 s, leaving a disconnected gap and a new epoch",
}
