package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/earshot/earshot/ingest"
)

// defaultSummaryInterval is log.summary_interval's default.
const defaultSummaryInterval = time.Minute

// packetProblems are the per-packet problems of a stream: each is counted,
// never logged as it happens, and summarised once per interval.
type packetProblems struct {
	lost, rtpErrors, decodeErrors, late, sdkDropped, handoffDropped, sinkErrors uint64
}

func problemsOf(s *ingest.StreamStats) packetProblems {
	return packetProblems{
		lost: s.RTPLost, rtpErrors: s.RTPErrors, decodeErrors: s.DecodeErrors, late: s.Late,
		sdkDropped: s.SDKDropped, handoffDropped: s.HandoffDropped, sinkErrors: s.SinkErrors,
	}
}

func (p packetProblems) since(prev packetProblems) packetProblems {
	return packetProblems{
		lost: p.lost - prev.lost, rtpErrors: p.rtpErrors - prev.rtpErrors, decodeErrors: p.decodeErrors - prev.decodeErrors,
		late: p.late - prev.late, sdkDropped: p.sdkDropped - prev.sdkDropped,
		handoffDropped: p.handoffDropped - prev.handoffDropped, sinkErrors: p.sinkErrors - prev.sinkErrors,
	}
}

// problemSummary logs, once per interval, one line per stream that had
// per-packet problems in it, with their counts: a lossy camera costs a
// line a minute, not one per packet.
type problemSummary struct {
	stats    func() []ingest.StreamStats
	interval time.Duration
	log      *slog.Logger
	last     map[string]packetProblems // owned by run
}

// run summarises until ctx is done.
func (p *problemSummary) run(ctx context.Context) {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.summarise()
		}
	}
}

// summarise logs what changed since the last call. A stream seen for the
// first time is compared with zero: its counters start when it is added.
func (p *problemSummary) summarise() {
	seen := make(map[string]packetProblems, len(p.last))
	for _, s := range p.stats() {
		now := problemsOf(&s)
		seen[s.ID] = now
		d := now.since(p.last[s.ID])
		if d == (packetProblems{}) {
			continue
		}
		p.log.Warn("packet problems", "stream", s.ID, "interval", p.interval,
			"lost", d.lost, "rtp_errors", d.rtpErrors, "decode_errors", d.decodeErrors, "late", d.late,
			"sdk_dropped", d.sdkDropped, "handoff_dropped", d.handoffDropped, "sink_errors", d.sinkErrors)
	}
	p.last = seen
}
