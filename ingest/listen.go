package ingest

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/earshot/earshot/audio"
)

// Listen-in limits: frames of at most listenFrame, and at most
// listenQueue of audio waiting per listener.
const (
	listenFrame = 20 * time.Millisecond
	listenQueue = 500 * time.Millisecond
)

// Frame is a piece of a stream's decoded audio, as it leaves the decoder.
type Frame struct {
	// Arrival is when the RTP packet it was decoded from arrived.
	Arrival time.Time
	// PCM is mono s16le at the supervisor's sample rate, at most 20 ms.
	// It is shared by every listener: read-only.
	PCM []byte
}

// Listener receives a stream's audio from the moment it is created until
// Close. A listener that does not keep up loses frames, counted in
// Dropped, rather than delaying the stream or other listeners.
type Listener struct {
	st      *stream
	frames  chan Frame
	dropped atomic.Uint64
	once    sync.Once
	done    chan struct{}
}

// Listen starts a listener on the stream id. The caller must Close it.
func (s *Supervisor) Listen(id string) (*Listener, error) {
	st, err := s.lookup(id)
	if err != nil {
		return nil, err
	}
	l := &Listener{st: st, frames: make(chan Frame, int(listenQueue/listenFrame)), done: make(chan struct{})}
	st.listeners.add(l)
	return l, nil
}

// Frames delivers the audio; it is never closed: select on Done too.
func (l *Listener) Frames() <-chan Frame { return l.frames }

// Done is closed by Close, or when the stream stops or is removed.
func (l *Listener) Done() <-chan struct{} { return l.done }

// Dropped counts the frames lost because the queue held 0.5 s already.
func (l *Listener) Dropped() uint64 { return l.dropped.Load() }

// SampleRate is the rate of the frames' PCM.
func (l *Listener) SampleRate() int { return l.st.sup.cfg.SampleRate }

// Close stops the listener. It may be called more than once.
func (l *Listener) Close() {
	l.st.listeners.remove(l)
	l.end()
}

func (l *Listener) end() { l.once.Do(func() { close(l.done) }) }

// listenerSet is a stream's listeners, copy-on-write: publishing reads one
// atomic pointer, so a stream nobody listens to pays one load per packet.
type listenerSet struct {
	mu  sync.Mutex
	cur atomic.Pointer[[]*Listener]
}

func (ls *listenerSet) add(l *Listener) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	var next []*Listener
	if p := ls.cur.Load(); p != nil {
		next = slices.Clone(*p)
	}
	next = append(next, l)
	ls.cur.Store(&next)
}

func (ls *listenerSet) remove(l *Listener) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	p := ls.cur.Load()
	if p == nil {
		return
	}
	next := slices.DeleteFunc(slices.Clone(*p), func(x *Listener) bool { return x == l })
	if len(next) == 0 {
		ls.cur.Store(nil)
		return
	}
	ls.cur.Store(&next)
}

func (ls *listenerSet) count() int {
	if p := ls.cur.Load(); p != nil {
		return len(*p)
	}
	return 0
}

// closeAll ends every listener, as the stream stops.
func (ls *listenerSet) closeAll() {
	ls.mu.Lock()
	p := ls.cur.Swap(nil)
	ls.mu.Unlock()
	if p != nil {
		for _, l := range *p {
			l.end()
		}
	}
}

// publish hands samples to every listener, in frames of at most
// listenFrame, without blocking. It runs on the stream's run goroutine.
func (ls *listenerSet) publish(samples []int16, arrival time.Time, rate int) {
	p := ls.cur.Load()
	if p == nil {
		return
	}
	per := rate * int(listenFrame/time.Millisecond) / 1000
	for len(samples) > 0 {
		k := min(len(samples), per)
		f := Frame{Arrival: arrival, PCM: audio.AppendS16LE(make([]byte, 0, 2*k), samples[:k])}
		samples = samples[k:]
		for _, l := range *p {
			select {
			case l.frames <- f:
			default:
				l.dropped.Add(1)
			}
		}
	}
}

// heard feeds samples the timeline decoded, which arrived at arrival, to
// the level meter and the listeners. It runs on the stream's run goroutine.
func (st *stream) heard(samples []int16, arrival time.Time) {
	st.level.observe(samples, arrival)
	st.listeners.publish(samples, arrival, st.sup.cfg.SampleRate)
}
