package handoff

import (
	"bytes"
	"testing"
	"time"

	"github.com/earshot/earshot/loadtest/testkit"
)

// frame and status stand for the backends' types.
type (
	frame  struct{ n int }
	status string
)

// delivery is what a test's Deliver saw of one frame.
type delivery struct {
	n          int
	data       byte
	dropped    uint64
	dropReason string
}

func newTestQueue(t testing.TB, bound int) (*Queue[frame, status], *Pool, chan delivery) {
	p := NewPool(1, nil)
	t.Cleanup(p.Stop)
	got := make(chan delivery, 64)
	q := NewQueue(p, Config[frame, status]{
		Bound:       bound,
		BoundReason: "full",
		Deliver: func(f *frame, data []byte, dropped uint64, reason string) bool {
			got <- delivery{n: f.n, data: data[0], dropped: dropped, dropReason: reason}
			return true
		},
		Status: func(status) {},
	})
	t.Cleanup(q.Close)
	return q, p, got
}

func next(t *testing.T, got chan delivery) delivery {
	t.Helper()
	select {
	case d := <-got:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery within 10 s")
		return delivery{}
	}
}

func TestHeldBurstIsServedInOneTurn(t *testing.T) {
	q, p, got := newTestQueue(t, 64)
	q.Hold()
	for i := range 10 {
		q.Push([]byte{byte(i)}, &frame{n: i})
	}
	if c := q.Counts(); c.Queued != 10 {
		t.Fatalf("%d queued while held, want 10", c.Queued)
	}
	q.Release()
	for i := range 10 {
		if d := next(t, got); d.n != i || d.data != byte(i) {
			t.Fatalf("delivery %d = %+v, want frame %d in order", i, d, i)
		}
	}
	if n := p.turns.Load(); n != 1 {
		t.Errorf("a held burst of 10 frames took %d worker turns, want 1", n)
	}
}

// TestBurstEndFollowsTheBurstsCallbacks: BurstEnd runs once per turn of
// the worker that delivered frames, after the last of them, and not for a
// turn that delivered only a status.
func TestBurstEndFollowsTheBurstsCallbacks(t *testing.T) {
	p := NewPool(1, nil)
	t.Cleanup(p.Stop)
	events := make(chan string, 4*Batch)
	q := NewQueue(p, Config[frame, status]{
		Bound: 4 * Batch,
		Deliver: func(f *frame, data []byte, dropped uint64, reason string) bool {
			events <- "frame"
			return true
		},
		Status:   func(status) { events <- "status" },
		BurstEnd: func() { events <- "end" },
	})
	t.Cleanup(q.Close)
	want := func(seq ...string) {
		t.Helper()
		for i, w := range seq {
			select {
			case e := <-events:
				if e != w {
					t.Fatalf("event %d = %s, want %s (sequence %v)", i, e, w, seq)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("event %d (%s) did not come within 10 s", i, w)
			}
		}
	}
	burst := func(n int) {
		q.Hold()
		for i := range n {
			q.Push([]byte{byte(i)}, &frame{n: i})
		}
		q.Release()
	}
	burst(3)
	want("frame", "frame", "frame", "end")
	q.PushStatus("up")
	want("status")
	// A burst longer than a turn ends each turn that delivered frames.
	// The worker may still be in the status's turn when the burst is
	// pushed (Hold defers scheduling, not a turn already running), and
	// then that turn delivers the burst's first frames: so the turns are
	// checked, not one exact sequence.
	burst(Batch + 2)
	frames, turns, inTurn := 0, 0, 0
	for frames < Batch+2 || inTurn > 0 {
		var e string
		select {
		case e = <-events:
		case <-time.After(10 * time.Second):
			t.Fatalf("after %d frames in %d turns, nothing came within 10 s", frames, turns)
		}
		switch e {
		case "frame":
			frames++
			if inTurn++; inTurn > Batch {
				t.Fatalf("a turn delivered more than Batch (%d) frames", Batch)
			}
		case "end":
			if inTurn == 0 {
				t.Fatalf("end after a turn that delivered no frame (turn %d)", turns+1)
			}
			turns, inTurn = turns+1, 0
		default:
			t.Fatalf("unexpected %s in the burst", e)
		}
	}
	if frames != Batch+2 || turns < 2 {
		t.Errorf("%d frames in %d turns, want %d frames in at least 2 turns", frames, turns, Batch+2)
	}
	select {
	case e := <-events:
		t.Errorf("unexpected %s after the bursts", e)
	default:
	}
}

// TestStatusEndsAHeldBurst: a reader that held a burst and then ended
// (its connection failed on a parse error, so it never read again) must
// not keep the burst's frames, or the disconnect behind them, undelivered.
func TestStatusEndsAHeldBurst(t *testing.T) {
	p := NewPool(1, nil)
	t.Cleanup(p.Stop)
	got := make(chan delivery, 8)
	statuses := make(chan status, 8)
	q := NewQueue(p, Config[frame, status]{
		Bound: 8,
		Deliver: func(f *frame, data []byte, dropped uint64, reason string) bool {
			got <- delivery{n: f.n, data: data[0]}
			return true
		},
		Status: func(st status) { statuses <- st },
	})
	t.Cleanup(q.Close)
	q.Hold()
	q.Push([]byte{7}, &frame{n: 7})
	q.PushStatus("disconnected")
	select {
	case st := <-statuses:
		if st != "disconnected" {
			t.Fatalf("status %q", st)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a status pushed while a burst was held was not delivered within 10 s")
	}
	if d := next(t, got); d.n != 7 {
		t.Errorf("held frame delivered as %+v, want frame 7", d)
	}
}

func TestFullQueueCountsDropsOnTheNextFrame(t *testing.T) {
	q, _, got := newTestQueue(t, 4)
	q.Hold()
	dropped := 0
	for i := range 6 {
		if q.Push([]byte{byte(i)}, &frame{n: i}) {
			dropped++
		}
	}
	if c := q.Counts(); dropped != 2 || c.Dropped != 2 || c.Queued != 4 {
		t.Fatalf("6 pushes into 4 slots: %d reported dropped, counts %+v", dropped, c)
	}
	q.Release()
	for range 4 {
		next(t, got)
	}
	q.Push([]byte{9}, &frame{n: 9})
	if d := next(t, got); d.n != 9 || d.dropped != 2 || d.dropReason != "full" {
		t.Errorf("the frame after the drops = %+v, want 2 dropped as full", d)
	}
	if c := q.Counts(); c.Frames != 5 {
		t.Errorf("%d frames counted, want 5", c.Frames)
	}
}

// BenchmarkBurst measures one read burst of 4 frames from push to the
// last callback, with the burst held (one worker wake-up) or not. Between
// pushes the reader parses the next packet (parse stands for gortsplib's
// RTP parsing, about a microsecond), time enough for a woken worker to
// drain the queue and be woken again.
func BenchmarkBurst(b *testing.B) {
	for _, held := range []bool{false, true} {
		name := "per packet"
		if held {
			name = "held burst"
		}
		b.Run(name, func(b *testing.B) {
			p := NewPool(2, nil)
			defer p.Stop()
			last := make(chan struct{}, 1)
			q := NewQueue(p, Config[frame, status]{
				Bound: 64,
				Deliver: func(f *frame, _ []byte, _ uint64, _ string) bool {
					if f.n == 3 {
						last <- struct{}{}
					}
					return true
				},
				Status: func(status) {},
			})
			defer q.Close()
			payload := make([]byte, 160)
			fs := [4]frame{{0}, {1}, {2}, {3}}
			b.ReportAllocs()
			for b.Loop() {
				if held {
					q.Hold()
				}
				for i := range fs {
					parse(payload)
					q.Push(payload, &fs[i])
				}
				if held {
					q.Release()
				}
				<-last
			}
			b.ReportMetric(float64(p.turns.Load())/float64(4*b.N), "turns/frame")
		})
	}
}

// sink keeps parse from being optimised away.
var sink byte

// parse reads payload a few times over, about a microsecond of work.
func parse(payload []byte) {
	var x byte
	for range 8 {
		for _, c := range payload {
			x ^= c + 1
		}
	}
	sink = x
}

// TestPushDoesNotAllocate: a push copies the caller's frame without moving
// it to the heap, whether it queues or drops it (a frame escaping through
// Config.Full cost an allocation per RTP packet).
func TestPushDoesNotAllocate(t *testing.T) {
	p := NewPool(1, nil)
	t.Cleanup(p.Stop)
	delivered := make(chan struct{}, 64)
	q := NewQueue(p, Config[frame, status]{
		Bound:       64,
		BoundReason: "full",
		Full:        func(int, *frame, *frame) string { return "" },
		Deliver: func(*frame, []byte, uint64, string) bool {
			delivered <- struct{}{}
			return true
		},
		Status: func(status) {},
	})
	t.Cleanup(q.Close)
	payload := make([]byte, 160)
	// Grow the ring once and fill the pool with 64 buffers, then drain.
	q.Hold()
	for i := range 64 {
		q.Push(payload, &frame{n: i})
	}
	q.Release()
	for range 64 {
		select {
		case <-delivered:
		case <-time.After(10 * time.Second):
			t.Fatal("the warm-up frames were not delivered within 10 s")
		}
	}
	// The last buffer is given back after its callback returned.
	testkit.WaitFor(t, 10*time.Second, "the worker to find the queue empty", func() bool {
		q.mu.Lock()
		defer q.mu.Unlock()
		return !q.scheduled
	})
	push := func() {
		f := frame{n: 1}
		q.Push(payload, &f)
	}
	q.Hold() // the pushes below stay queued (51), then are dropped
	if raceEnabled {
		// The race detector makes sync.Pool drop a quarter of the
		// buffers given back: queued pushes then allocate some.
		for range 51 {
			push()
		}
	} else if allocs := testing.AllocsPerRun(50, push); allocs != 0 {
		t.Errorf("%.1f allocations per queued push, want 0", allocs)
	}
	for range 64 - 51 {
		push()
	}
	if allocs := testing.AllocsPerRun(50, push); allocs != 0 {
		t.Errorf("%.1f allocations per dropped push, want 0", allocs)
	}
	q.Release()
}

// waitDrained waits until q's worker found it empty: every buffer of its
// delivered frames was given back.
func waitDrained(t *testing.T, q *Queue[frame, status]) {
	t.Helper()
	testkit.WaitFor(t, 10*time.Second, "the worker to find the queue empty", func() bool {
		q.mu.Lock()
		defer q.mu.Unlock()
		return !q.scheduled && q.count == 0
	})
}

// slotsWithBuffers counts q's slots holding a payload buffer.
func slotsWithBuffers(q *Queue[frame, status]) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for i := range q.slots {
		if q.slots[i].buf != nil {
			n++
		}
	}
	return n
}

// TestDrainedQueuesHoldNoPayload: queues that delivered a burst and
// drained hold no payload buffer (they are back in the Pool, shared by
// every queue), so what idle handles keep does not grow with the payloads
// they once queued.
func TestDrainedQueuesHoldNoPayload(t *testing.T) {
	const queues = 16
	p := NewPool(2, nil)
	t.Cleanup(p.Stop)
	qs := make([]*Queue[frame, status], queues)
	for i := range qs {
		qs[i] = NewQueue(p, Config[frame, status]{
			Bound:   64,
			Deliver: func(*frame, []byte, uint64, string) bool { return true },
			Status:  func(status) {},
		})
		t.Cleanup(qs[i].Close)
	}
	payload := make([]byte, 380)
	for _, q := range qs {
		q.Hold()
		for i := range initialSlots {
			q.Push(payload, &frame{n: i})
		}
		q.Release()
	}
	held := 0
	for _, q := range qs {
		waitDrained(t, q)
		held += slotsWithBuffers(q)
	}
	if held != 0 {
		t.Errorf("%d drained queues keep %d payload buffers, want 0", queues, held)
	}
}

// TestCloseGivesBackQueuedBuffers: the buffers of frames still queued when
// a queue is closed go back to the Pool, not away with the queue's slots.
func TestCloseGivesBackQueuedBuffers(t *testing.T) {
	q, _, _ := newTestQueue(t, 64)
	q.Hold()
	for i := range 5 {
		q.Push([]byte{byte(i)}, &frame{n: i})
	}
	if n := slotsWithBuffers(q); n != 5 {
		t.Fatalf("%d slots hold a buffer with 5 frames queued, want 5", n)
	}
	q.Close()
	if n := slotsWithBuffers(q); n != 0 {
		t.Errorf("%d slots of a closed queue hold a buffer, want 0", n)
	}
}

// TestPayloadOutlivesOtherQueuesWhileDelivered: a frame's buffer stays its
// own until its callback returns, while other queues of the same Pool take
// and give back buffers; it is poisoned only then.
func TestPayloadOutlivesOtherQueuesWhileDelivered(t *testing.T) {
	p := NewPool(2, nil)
	t.Cleanup(p.Stop)
	inside, resume := make(chan struct{}), make(chan struct{})
	seen := make(chan []byte, 1)
	var kept []byte
	a := NewQueue(p, Config[frame, status]{
		Bound: 4,
		Deliver: func(_ *frame, data []byte, _ uint64, _ string) bool {
			close(inside)
			<-resume
			seen <- append([]byte(nil), data...)
			kept = data // read again once the callback returned
			return true
		},
		Status: func(status) {},
		Poison: true,
	})
	t.Cleanup(a.Close)
	bDone := make(chan struct{}, 64)
	b := NewQueue(p, Config[frame, status]{
		Bound: 64,
		Deliver: func(*frame, []byte, uint64, string) bool {
			bDone <- struct{}{}
			return true
		},
		Status: func(status) {},
	})
	t.Cleanup(b.Close)

	want := bytes.Repeat([]byte{0xA1}, 300)
	a.Push(want, &frame{})
	<-inside
	other := bytes.Repeat([]byte{0xB2}, 300)
	for round := range 4 {
		for i := range 16 {
			b.Push(other, &frame{n: 16*round + i})
		}
		for range 16 {
			next := time.After(10 * time.Second)
			select {
			case <-bDone:
			case <-next:
				t.Fatal("the other queue's frames were not delivered within 10 s")
			}
		}
	}
	close(resume)
	if got := <-seen; !bytes.Equal(got, want) {
		t.Fatalf("the payload changed during its callback: % x…, want a1…", got[:4])
	}
	waitDrained(t, a)
	for _, c := range kept {
		if c != PoisonByte {
			t.Fatalf("a delivered payload holds %#x, want it poisoned before it went back", c)
		}
	}
}

// TestGrownQueueGivesItsSlotsBack: a backlog grows the ring; once the queue
// has drained shrinkAfter times holding one frame at most, it gives its
// slots back, and a later backlog grows it again.
func TestGrownQueueGivesItsSlotsBack(t *testing.T) {
	q, _, got := newTestQueue(t, 256)
	slots := func() int {
		q.mu.Lock()
		defer q.mu.Unlock()
		return len(q.slots)
	}
	burst := func(n int) {
		q.Hold()
		for i := range n {
			q.Push([]byte{byte(i)}, &frame{n: i})
		}
		q.Release()
		for range n {
			next(t, got)
		}
		// Each burst ends with the worker finding the queue empty.
		testkit.WaitFor(t, 10*time.Second, "the worker to find the queue empty", func() bool {
			q.mu.Lock()
			defer q.mu.Unlock()
			return !q.scheduled
		})
	}
	burst(40)
	if n := slots(); n != 64 {
		t.Fatalf("a burst of 40 left %d slots, want 64", n)
	}
	// The drains are counted in windows of shrinkAfter; the burst of 40
	// was in the first, so the second gives the slots back.
	for range shrinkAfter {
		burst(1)
	}
	if n := slots(); n != 64 {
		t.Fatalf("%d slots after a window that held 40 frames, want 64", n)
	}
	for range shrinkAfter {
		burst(1)
	}
	if n := slots(); n > initialSlots {
		t.Fatalf("%d slots after a window that held one frame at most, want at most %d", n, initialSlots)
	}
	burst(40)
	if n := slots(); n != 64 {
		t.Errorf("a burst of 40 after the shrink left %d slots, want 64", n)
	}
}
