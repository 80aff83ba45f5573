// Package bufpool lends frame-payload buffers to the queues that copy
// frames between goroutines (the SDK's handle queues and ingest's stream
// handoffs): a buffer is taken when a frame is copied in and given back
// once the frame has been consumed, so that an idle stream holds none and
// the streams together hold only those of the frames in flight.
package bufpool

import "sync"

// MaxCap is the largest buffer capacity a Pool keeps. RTP audio payloads
// are a few hundred bytes (1500 at most on UDP); a larger one, such as a
// 64 KiB interleaved TCP frame seen once, is copied into a buffer of its
// own, dropped when given back, rather than kept in the pool for good.
const MaxCap = 4096

// Pool is a sync.Pool of *[]byte: no lock beyond the sync.Pool's, and no
// allocation once its buffers exist (a []byte would be boxed on each Put).
// Buffers left in it are freed by the garbage collector after two cycles
// unused. The zero value is ready to use; a Pool must not be copied.
type Pool struct {
	p sync.Pool
}

// Copy returns a buffer holding a copy of data, to be given back with Put.
func (p *Pool) Copy(data []byte) *[]byte {
	b, _ := p.p.Get().(*[]byte)
	if b == nil {
		b = new([]byte)
	}
	*b = append((*b)[:0], data...)
	return b
}

// Put gives b back; nothing may read or write it afterwards. A buffer
// larger than MaxCap is dropped.
func (p *Pool) Put(b *[]byte) {
	if cap(*b) > MaxCap {
		return
	}
	p.p.Put(b)
}
