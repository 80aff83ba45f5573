package handoff

import (
	"context"
	"fmt"
	"runtime/pprof"
	"sync"
	"sync/atomic"

	"github.com/earshot/earshot/ingest/internal/bufpool"
)

// DefaultWorkers is the default size of a pool.
const DefaultWorkers = 4

// ValidateWorkers checks a pool size.
func ValidateWorkers(n int) error {
	if n < 1 || n > 1024 {
		//lint:ignore ST1005 the message begins with the option's name
		return fmt.Errorf("Workers must be between 1 and 1024, got %d", n)
	}
	return nil
}

// servable is a queue as the pool sees it.
type servable interface {
	serve() (more bool)
	labels() context.Context
}

// Pool is a fixed set of workers serving ready queues in FIFO order. A
// queue is on the ready list at most once (Queue.scheduled), so the list
// holds at most one entry per queue. It also lends its queues the buffers
// of the frames they hold.
type Pool struct {
	// bufs lends the payload buffers: a queue takes one in Push and gives
	// it back once the frame's callback has returned, so that the handles
	// together hold the buffers of the frames in flight, not 8 or more per
	// handle for its whole life.
	bufs bufpool.Pool

	mu      sync.Mutex
	cond    *sync.Cond
	ready   ring
	stopped bool
	idle    context.Context
	wg      sync.WaitGroup

	turns atomic.Uint64 // queues served, for the tests
}

// NewPool starts n workers; idle, if set, are the pprof labels of a
// waiting worker.
func NewPool(n int, idle context.Context) *Pool {
	p := &Pool{idle: idle}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(n)
	for range n {
		go p.worker()
	}
	return p
}

// Stop stops the workers once they finish their current turn, and waits
// for them. Queues still ready are not served.
func (p *Pool) Stop() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.cond.Broadcast()
	p.wg.Wait()
}

func (p *Pool) worker() {
	defer p.wg.Done()
	if p.idle != nil {
		pprof.SetGoroutineLabels(p.idle)
	}
	for {
		q := p.next()
		if q == nil {
			return
		}
		l := q.labels()
		if l != nil {
			pprof.SetGoroutineLabels(l)
		}
		p.turns.Add(1)
		more := q.serve()
		if l != nil && p.idle != nil {
			pprof.SetGoroutineLabels(p.idle)
		}
		if more {
			p.enqueue(q)
		}
	}
}

func (p *Pool) enqueue(q servable) {
	p.mu.Lock()
	p.ready.push(q)
	p.mu.Unlock()
	p.cond.Signal()
}

func (p *Pool) next() servable {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.ready.n == 0 && !p.stopped {
		p.cond.Wait()
	}
	if p.stopped {
		return nil
	}
	return p.ready.pop()
}

// ring is a FIFO of queues that grows as needed and reuses its storage.
type ring struct {
	buf  []servable
	head int
	n    int
}

func (r *ring) push(q servable) {
	if r.n == len(r.buf) {
		grown := make([]servable, max(16, 2*len(r.buf)))
		for i := range r.n {
			grown[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = grown, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = q
	r.n++
}

func (r *ring) pop() servable {
	q := r.buf[r.head]
	r.buf[r.head] = nil
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return q
}
