package ingest

import (
	"context"
	"log/slog"
	"time"

	"github.com/earshot/earshot/sink/schema"
)

// Stages a stall is attributed to.
const (
	// StageSource: the source stopped sending usable audio; the SDK's
	// reader is waiting for it.
	StageSource = "source"
	// StageCallback: the SDK's callback workers stopped delivering frames.
	StageCallback = "sdk_callback"
	// StageWorker: the stream worker (decode, chunk) stopped taking frames
	// from the handoff.
	StageWorker = "worker"
	// StageSink: the sink stopped accepting or delivering records.
	StageSink = "sink"
)

// ReasonSilentAudio is the stall of a source whose audio flows but stays
// below the silence threshold (or at digital zero) for SilenceTimeout: a
// muted or dead microphone. Unlike the stall reasons of sink/schema it is
// no gap reason: the stream is not reconnected, and the silence is written
// as the data it is.
const ReasonSilentAudio = "silent_audio"

// watchdogPeriod is how often the watchdog looks at every stream: one
// goroutine for all of them, a handful of atomic loads each.
const watchdogPeriod = 250 * time.Millisecond

// Stall is a stage that stopped making progress while work waited for it.
type Stall struct {
	// Stream is the stream id; empty for a stall of the shared sink.
	Stream string `json:"stream,omitempty"`
	// URL is the stream's URL, credentials redacted.
	URL   string `json:"url,omitempty"`
	Stage string `json:"stage"`
	// Reason is one of the stall reasons of package sink/schema
	// (schema.ReasonNoRTP ... schema.ReasonSinkStalled); gap records of
	// the stall carry it too.
	Reason string `json:"reason"`
	// Since is when the stage last made progress; For is how long it had
	// not when the stall was detected, at Detected.
	Since    time.Time     `json:"since"`
	For      time.Duration `json:"for_ns"`
	Detected time.Time     `json:"detected"`
	// Detail is the cause when the stage knows it (the sink's, such as
	// "broker unreachable: …"); never credentials.
	Detail string `json:"detail,omitempty"`
	// Bundle is the folder of its diagnostics bundle, if one is written:
	// it is written after the stall is reported, off the watchdog, and the
	// folder appears complete once it is (see DiagnosticsConfig).
	Bundle string `json:"bundle,omitempty"`

	conn *conn // the connection found stalled, nil between sessions
}

// watch runs the watchdog until ctx is done.
func (s *Supervisor) watch(ctx context.Context) {
	t := time.NewTicker(watchdogPeriod)
	defer t.Stop()
	var buf []*stream
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			buf = s.snapshot(buf[:0])
			s.check(buf, now)
			clear(buf) // let removed streams go
		}
	}
}

// check looks at every stream once. Streams waiting on the sink are
// counted, not reported one by one: the sink is shared, so its stall is
// reported once.
func (s *Supervisor) check(streams []*stream, now time.Time) {
	var sinkStall Stall
	waiting, late := 0, false
	for _, st := range streams {
		found, l := st.diagnose(now)
		// A stall already reported had its lead-in recorded: a dead
		// camera does not keep the recorder running.
		late = late || l && st.wd.Reason == ""
		if found.Reason == schema.ReasonSinkStalled {
			waiting++
			if sinkStall.Since.IsZero() || found.Since.Before(sinkStall.Since) {
				sinkStall = found
			}
		}
		s.transition(st, found, now)
	}
	if hr, ok := s.sink.(healthReporter); ok && sinkStall.Reason == "" {
		if h := hr.Health(); h.Stalled {
			sinkStall = Stall{Stage: StageSink, Reason: schema.ReasonSinkStalled, Since: h.StalledSince, Detail: h.Reason}
		}
	}
	s.sinkTransition(sinkStall, waiting, now)
	if late {
		s.diag.armTrace()
	}
}

// diagnose names the stage of st that stopped, looking downstream first:
// a stage waiting on the next one is not stalled itself. late reports a
// stage without progress for over half its timeout, stalled or not: the
// lead-in of a stall, which arms the flight recorder.
func (st *stream) diagnose(now time.Time) (found Stall, late bool) {
	cfg := &st.sup.cfg
	// over reports whether since is over timeout ago, and notes lateness.
	over := func(since time.Time, timeout time.Duration) bool {
		age := now.Sub(since)
		late = late || age > timeout/2
		return age > timeout
	}
	c := st.cur.Load()
	if w := unixTime(st.writeSince.Load()); !w.IsZero() && over(w, cfg.StallTimeout) {
		return Stall{Stage: StageSink, Reason: schema.ReasonSinkStalled, Since: w, conn: c}, true
	}
	if b := unixTime(st.busySince.Load()); !b.IsZero() && over(b, cfg.StallTimeout) {
		return Stall{Stage: StageWorker, Reason: schema.ReasonWorkerStuck, Since: b, conn: c}, true
	}
	if c == nil {
		return Stall{}, late
	}
	hs, err := c.b.Stats(c.h)
	if err != nil {
		return Stall{}, late // closed since
	}
	if cb := hs.CallbackStarted; !cb.IsZero() && over(cb, cfg.StallTimeout) {
		return Stall{Stage: StageCallback, Reason: schema.ReasonCallbackBlocked, Since: cb, conn: c}, true
	}
	start := c.start
	if last := later(hs.LastDelivered, start); hs.Queued > 0 && over(last, cfg.StallTimeout) {
		// Frames wait, yet no worker has run a callback: the workers are
		// all busy with other handles.
		return Stall{Stage: StageCallback, Reason: schema.ReasonCallbackBlocked, Since: last, conn: c}, true
	}
	lastRTP := later(hs.LastRTP, start)
	if over(lastRTP, cfg.LivenessTimeout) {
		reason := schema.ReasonNoRTP
		if hs.LastRTCP.After(lastRTP) {
			reason = schema.ReasonRTCPOnly
		}
		return Stall{Stage: StageSource, Reason: reason, Since: lastRTP, conn: c}, true
	}
	if adv := later(unixTime(st.tl.lastAdvance.Load()), start); over(adv, cfg.LivenessTimeout) {
		return Stall{Stage: StageSource, Reason: schema.ReasonTimestampsFrozen, Since: adv, conn: c}, true
	}
	// Silence is the camera's content, not a stage running late: it does
	// not arm the flight recorder.
	if q := unixTime(st.level.quietSince.Load()); !q.IsZero() && cfg.SilenceTimeout > 0 && now.Sub(q) > cfg.SilenceTimeout {
		return Stall{Stage: StageSource, Reason: ReasonSilentAudio, Since: q, conn: c}, late
	}
	return Stall{}, late
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// transition moves st's stall state to what diagnose found. A new stall is
// reported once; a source stall makes the worker reconnect, and lasts
// until audio flows again, across reconnects, so that a dead camera is one
// stall, not one per attempt.
func (s *Supervisor) transition(st *stream, found Stall, now time.Time) {
	cur := &st.wd
	switch {
	case found.Reason == "" && cur.Reason == "":
		return
	case found.Reason == "":
		if cur.Stage == StageSource && st.lastPacket.Load() < cur.Detected.UnixNano() {
			return
		}
		st.events.add(Event{Time: now, Kind: EventStallOver, Reason: cur.Reason, Stage: cur.Stage})
		st.log.Info("stall over", "stage", cur.Stage, "reason", cur.Reason, "lasted", now.Sub(cur.Since).Round(time.Millisecond))
		*cur = Stall{}
		st.setStalled(nil)
		return
	case found.Reason == cur.Reason:
		if found.Stage == StageSource && found.conn != cur.conn && reconnects(found) {
			cur.conn = found.conn // the new session is as silent
			found.conn.signal(found)
		}
		return
	}
	found.Stream, found.URL, found.Detected, found.For = st.cfg.ID, st.url, now, now.Sub(found.Since)
	st.c.stalls.Add(1)
	if found.Reason != schema.ReasonSinkStalled {
		s.report(st.log, &found)
	}
	*cur = found
	c := found
	st.setStalled(&c)
	st.events.add(Event{Time: now, Kind: EventStall, Reason: found.Reason, Stage: found.Stage})
	if found.Stage == StageSource && reconnects(found) {
		found.conn.signal(found)
	}
	if found.Reason != schema.ReasonSinkStalled {
		s.notify(found)
	}
}

// reconnects tells whether a source stall ends the session: all do but
// silent_audio, which a reconnect cannot fix.
func reconnects(s Stall) bool { return s.Reason != ReasonSilentAudio }

// sinkTransition reports a stall of the shared sink once, however many
// streams wait on it.
func (s *Supervisor) sinkTransition(found Stall, waiting int, now time.Time) {
	cur := &s.sinkStall
	switch {
	case found.Reason == "" && cur.Reason == "":
	case found.Reason == "":
		s.cfg.Logger.Info("sink stall over", "lasted", now.Sub(cur.Since).Round(time.Millisecond))
		*cur = Stall{}
	case cur.Reason == "":
		*cur = Stall{Stage: StageSink, Reason: schema.ReasonSinkStalled, Since: found.Since, Detected: now, For: now.Sub(found.Since), Detail: found.Detail}
		s.report(s.cfg.Logger.With("streams_waiting", waiting), cur)
		s.notify(*cur)
	}
}

// report records a new stall: one log line, the counter, and a request
// for a diagnostics bundle, which is written on another goroutine.
func (s *Supervisor) report(log *slog.Logger, st *Stall) {
	s.countStall(st.Stage, st.Reason)
	if st.Reason != ReasonSilentAudio { // a muted microphone needs no goroutine dump
		st.Bundle = s.diag.capture(*st, st.Detected)
	}
	log.Warn("stall detected", "url", st.URL, "stage", st.Stage, "reason", st.Reason,
		"for", st.For.Round(time.Millisecond), "detail", st.Detail, "bundle", st.Bundle)
}

// notify calls the OnStall hook once the stall is recorded everywhere.
func (s *Supervisor) notify(st Stall) {
	if s.cfg.OnStall != nil {
		s.cfg.OnStall(st)
	}
}
