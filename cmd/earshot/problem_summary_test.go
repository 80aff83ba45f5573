package main

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/ingest"
	"github.com/earshot/earshot/loadtest/testkit"
)

// TestProblemSummaryLogsCountsPerInterval: a stream whose problem counters
// grew gets one line with what grew in the interval; a stream whose did
// not, and a stream without problems, get none.
func TestProblemSummaryLogsCountsPerInterval(t *testing.T) {
	stats := []ingest.StreamStats{
		{ID: "lossy", RTPLost: 100, DecodeErrors: 2},
		{ID: "clean", Packets: 5000},
	}
	logs := &testkit.SyncBuffer{}
	p := &problemSummary{
		stats:    func() []ingest.StreamStats { return stats },
		interval: time.Minute,
		log:      slog.New(slog.NewTextHandler(logs, nil)),
	}
	p.summarise()
	if got := logs.String(); strings.Count(got, "packet problems") != 1 || !strings.Contains(got, "stream=lossy") ||
		!strings.Contains(got, "lost=100") || !strings.Contains(got, "decode_errors=2") {
		t.Fatalf("first interval:\n%s", got)
	}
	stats[0].RTPLost, stats[0].HandoffDropped = 130, 7 // 30 more lost, 7 dropped
	stats = append(stats, ingest.StreamStats{ID: "added", Late: 3})
	p.summarise()
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1]+lines[2], "lost=30") || !strings.Contains(lines[1]+lines[2], "handoff_dropped=7") ||
		!strings.Contains(lines[1]+lines[2], "decode_errors=0") || !strings.Contains(lines[1]+lines[2], "stream=added") {
		t.Fatalf("second interval:\n%s", logs)
	}
	p.summarise()
	if n := strings.Count(logs.String(), "\n"); n != 3 {
		t.Errorf("an interval without problems logged %d lines", n-3)
	}
}
