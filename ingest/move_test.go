package ingest_test

import (
	"context"
	"testing"

	"github.com/earshot/earshot/ingest"
	"github.com/earshot/earshot/loadtest/loadtesttest"
	"github.com/earshot/earshot/sink/schema"
)

// TestMoveHandsAStreamToAnotherInstance: a stream moved off one supervisor
// ends with reason moved, and the epoch another supervisor begins for it
// afterwards is larger, although that supervisor was created first.
func TestMoveHandsAStreamToAnotherInstance(t *testing.T) {
	srv := loadtesttest.Cameras(t, "pcmu-1")
	sc := ingest.StreamConfig{ID: "s1", URL: "rtsp://" + srv.Addr() + "/pcmu-1", Transport: "tcp"}
	later, earlier := newMemSink(), newMemSink()
	second, err := ingest.New(ingest.Config{}, later) // created first: its epochs start lower
	if err != nil {
		t.Fatal(err)
	}
	first, err := ingest.New(ingest.Config{Streams: []ingest.StreamConfig{sc}}, earlier)
	if err != nil {
		t.Fatal(err)
	}
	stopFirst := runSupervisor(t, first)
	defer stopFirst()
	stopSecond := runSupervisor(t, second)
	defer stopSecond()

	start := earlier.await(t, "first audio", func(r schema.Record) bool { return r.Kind == schema.KindAudio })
	if err := first.Move(context.Background(), "s1"); err != nil {
		t.Fatal(err)
	}
	end := earlier.await(t, "end record", func(r schema.Record) bool { return r.Kind == schema.KindEnd })
	if end.Reason != schema.ReasonMoved {
		t.Errorf("moved stream ends with %q, want %q", end.Reason, schema.ReasonMoved)
	}
	if err := second.Add(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	next := later.await(t, "start on the other instance", func(r schema.Record) bool { return r.Kind == schema.KindStart })
	if next.Epoch <= start.Epoch {
		t.Errorf("epoch %d on the new instance is not above %d of the old one", next.Epoch, start.Epoch)
	}
}
