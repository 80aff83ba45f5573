package loadtest

import (
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// activeFault is a fault that has begun. Guarded by Server.mu.
type activeFault struct {
	f     Fault
	event int // index in faultSchedule.events
	ended bool
	// done is closed when the fault ends; requests FaultSlowDescribe holds
	// wait on it.
	done chan struct{}
}

// faultSchedule begins and ends a running server's faults: now (Inject) or
// at a time (ServerConfig.Faults, and the end of a fault with a Duration),
// with one timer per pending action. It is owned by the Server: created by
// Start; stop (under Server.mu) and wait (without it) are called by Close.
// Every field and method is guarded by Server.mu, except wait.
type faultSchedule struct {
	s      *Server
	timers map[*time.Timer]struct{} // pending
	wg     sync.WaitGroup           // counts timers not stopped in time
	active []*activeFault           // in the order they began
	events []FaultEvent
	// restarts counts active server_restart faults: the server listens
	// again when the last one ends.
	restarts int
}

func newFaultSchedule(s *Server) *faultSchedule {
	return &faultSchedule{s: s, timers: make(map[*time.Timer]struct{})}
}

// Inject begins f now (f.At is ignored) and returns a function that ends it;
// a fault with a Duration also ends by itself after it. clear is idempotent,
// safe for concurrent use, and does nothing once the fault has ended or the
// server has closed. Faults on a stream add up; see FaultKind for what each
// does. Errors for an invalid fault wrap ErrInvalidFault; outside Start and
// Close, Inject returns ErrNotRunning.
func (s *Server) Inject(f Fault) (clear func(), err error) {
	f.At = 0
	if err := f.validate(&s.cfg, s.byName); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateRunning {
		return nil, ErrNotRunning
	}
	af := s.faults.run(f)
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.faults.end(af)
	}, nil
}

// FaultLog returns every fault the server has applied, scheduled or
// injected, in the order they began, with when they ended. Faults still
// active at Close end then.
func (s *Server) FaultLog() []FaultEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults == nil {
		return nil
	}
	return slices.Clone(s.faults.events)
}

// schedule begins f at f.At from now.
func (fs *faultSchedule) schedule(f Fault) {
	fs.after(f.At, func() { fs.run(f) })
}

// run begins f now and, if it has a Duration, schedules its end.
func (fs *faultSchedule) run(f Fault) *activeFault {
	af := fs.begin(f)
	if f.Duration > 0 && !af.ended {
		fs.after(f.Duration, func() { fs.end(af) })
	}
	return af
}

// after calls fn under Server.mu in d, unless the server closes first.
func (fs *faultSchedule) after(d time.Duration, fn func()) {
	fs.wg.Add(1)
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		defer fs.wg.Done()
		fs.s.mu.Lock()
		defer fs.s.mu.Unlock()
		delete(fs.timers, t) // t is set: Server.mu was held meanwhile
		if fs.s.state == stateRunning {
			fn()
		}
	})
	fs.timers[t] = struct{}{}
}

// stop cancels the pending timers and ends the active faults, without
// applying their ends: the server is closing. Timers that fired but wait
// for Server.mu will find it closed; see wait.
func (fs *faultSchedule) stop() {
	for t := range fs.timers {
		if t.Stop() {
			fs.wg.Done()
		}
	}
	clear(fs.timers)
	now := time.Now()
	for _, af := range fs.active {
		fs.finish(af, now)
	}
	fs.active = nil
	for _, st := range fs.s.streams {
		st.active = nil
	}
}

// wait waits for the timer functions that were already running when stop
// was called. It must be called without Server.mu.
func (fs *faultSchedule) wait() {
	fs.wg.Wait()
}

// begin applies f and records it. An instantaneous fault has ended when
// begin returns.
func (fs *faultSchedule) begin(f Fault) *activeFault {
	now := time.Now()
	af := &activeFault{f: f, event: len(fs.events), done: make(chan struct{})}
	fs.events = append(fs.events, FaultEvent{Fault: f, Began: now})
	fs.s.log.Info("loadtest fault begins", "fault", f.String())
	info, _ := f.Kind.info()
	switch {
	case info.serverWide:
		fs.active = append(fs.active, af)
		fs.restarts++
		if fs.s.rtsp != nil {
			fs.s.unlisten()
		}
	case info.instant:
		fs.s.applyInstant(fs.s.byName[f.Stream], f)
		fs.finish(af, now)
	default:
		st := fs.s.byName[f.Stream]
		st.active = append(st.active, af)
		fs.active = append(fs.active, af)
		fs.s.refresh(st, f.Kind, true)
	}
	return af
}

// end ends af, if it has not ended yet, and undoes it.
func (fs *faultSchedule) end(af *activeFault) {
	if af.ended {
		return
	}
	fs.finish(af, time.Now())
	fs.active = slices.DeleteFunc(fs.active, func(a *activeFault) bool { return a == af })
	info, _ := af.f.Kind.info()
	if info.serverWide {
		fs.restarts--
		if fs.restarts == 0 && fs.s.rtsp == nil {
			if err := fs.s.listen(fs.s.addr); err != nil {
				fs.events[af.event].Error = err.Error()
				fs.s.log.Error("loadtest server did not restart", "address", fs.s.addr, "error", err)
			}
		}
		return
	}
	st := fs.s.byName[af.f.Stream]
	st.active = slices.DeleteFunc(st.active, func(a *activeFault) bool { return a == af })
	fs.s.refresh(st, af.f.Kind, false)
}

// finish marks af ended at now, and lets its held requests go.
func (fs *faultSchedule) finish(af *activeFault, now time.Time) {
	if af.ended {
		return
	}
	af.ended = true
	close(af.done)
	fs.events[af.event].Ended = now
	if !now.Equal(fs.events[af.event].Began) {
		fs.s.log.Info("loadtest fault ends", "fault", af.f.String())
	}
}

// refresh brings st in line with its active faults after one of kind began
// (begin) or ended: it swaps the variant if the SDP faults call for another
// one, publishes the new state, then ends the sessions that must meet the
// fault. Server.mu must be held.
func (s *Server) refresh(st *stream, kind FaultKind, begin bool) {
	if st.v == nil { // not listening: listen will build what is needed
		return
	}
	if want := variantFor(st.active); want != st.v.kind {
		v := st.newVariant(want, s.cfg.PacketDuration)
		if err := v.start(s.rtsp); err != nil {
			s.log.Error("loadtest stream keeps its SDP", "stream", st.spec.Name, "error", err)
		} else {
			old := st.v
			st.setVariant(v)
			st.publish(s.cfg.PacketDuration)
			old.ss.Close() // which ends the sessions reading it
			return
		}
	}
	st.publish(s.cfg.PacketDuration)
	if info, _ := kind.info(); begin && info.endsSessions {
		if kind == FaultTCPReset {
			s.readers.resetConns(st)
		}
		s.readers.endSessions(st)
	}
}

// applyInstant applies an instantaneous fault to st. While the server is
// not listening it does nothing: st gets a fresh variant when it listens
// again. Server.mu must be held.
func (s *Server) applyInstant(st *stream, f Fault) {
	if st.v == nil {
		return
	}
	switch f.Kind {
	case FaultTimestampJump:
		st.jump += f.Jump
	case FaultSSRCChange:
		for old := st.ssrc; st.ssrc == old || st.ssrc == st.v.audioSSRC || st.ssrc == 0; {
			st.ssrc = rand.Uint32()
		}
		// A new sequence base, far from the old one either way.
		st.seqJump += uint16(1000 + rand.IntN(1<<16-2000))
	}
	st.publish(s.cfg.PacketDuration)
}
