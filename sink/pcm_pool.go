package sink

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
)

const (
	// pcmMarkLen is the size of the mark at the end of the capacity of a
	// buffer the pool handed out.
	pcmMarkLen = 8
	// pcmPoolBytes bounds the capacity of the buffers the pool keeps: 4 MiB
	// is ~650 chunks of 200 ms at 16 kHz, a second of 100 streams and more
	// than a batch's worth; beyond it they are left to the GC.
	pcmPoolBytes = 4 << 20
)

// pcmPool hands out the buffers of the PCM of audio records (Writer.AllocPCM)
// and takes back those whose records nothing can read any more (see
// Writer.recycle and Write), so that a stream's chunks do not each allocate
// one. A buffer it hands out for n bytes has a capacity of exactly
// n+pcmMarkLen, the last pcmMarkLen bytes holding a mark random to the
// writer: put takes back only a PCM of exactly n bytes followed by the mark,
// so PCM the writer was given by anyone else (a test keeping its records,
// another writer's buffer) is left alone. put reads only the pcmMarkLen
// bytes past the PCM, and only when they end its capacity. The mark is cleared while the buffer is in the
// pool, so a buffer given back twice is kept once. get is called by the
// writers of records (ingest's stream workers), put by Write and the
// writer's goroutine; neither allocates once the pool is warm.
type pcmPool struct {
	mark uint64

	mu    sync.Mutex
	free  [][]byte // given back, unmarked, newest last
	bytes int      // capacity of free
}

func newPCMPool() *pcmPool {
	return &pcmPool{mark: rand.Uint64() | 1} // never 0, the cleared mark
}

// get returns an empty buffer for exactly n bytes of PCM, marked: a PCM of
// any other length, or written past n over the mark, is not taken back.
func (p *pcmPool) get(n int) []byte {
	var b []byte
	p.mu.Lock()
	if k := len(p.free); k > 0 {
		b = p.free[k-1]
		p.free[k-1] = nil
		p.free = p.free[:k-1]
		p.bytes -= cap(b)
	}
	p.mu.Unlock()
	if cap(b) < n+pcmMarkLen {
		// None kept, or one too small: a new one, the small one left to
		// the GC. One too large (for a shorter chunk, as the last of a
		// stream) is cut to size.
		b = make([]byte, 0, n+pcmMarkLen)
	}
	b = b[: n+pcmMarkLen : n+pcmMarkLen]
	binary.LittleEndian.PutUint64(b[n:], p.mark)
	return b[:0]
}

// put takes back pcm if get handed it out and it is not in the pool
// already. The caller guarantees that nothing reads pcm any more.
func (p *pcmPool) put(pcm []byte) {
	c := cap(pcm)
	if c < pcmMarkLen || len(pcm) != c-pcmMarkLen {
		return
	}
	mark := pcm[c-pcmMarkLen : c]
	if binary.LittleEndian.Uint64(mark) != p.mark {
		return
	}
	clear(mark)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bytes+c > pcmPoolBytes {
		return
	}
	if p.free == nil {
		p.free = make([][]byte, 0, 64)
	}
	p.free = append(p.free, pcm[:0])
	p.bytes += c
}
