package audio

import (
	"fmt"
	"time"
)

// Chunk durations accepted by NewChunker.
const (
	minChunk = 20 * time.Millisecond
	maxChunk = 2 * time.Second
)

// Chunker cuts a continuous mono sample stream into chunks of a fixed
// duration. It is owned by one stream worker. Its buffer holds one chunk:
// 32 KiB for 1 s at 16 kHz.
type Chunker struct {
	rate int
	buf  []int16 // len is the chunk size in samples
	fill int     // samples buffered in buf
	// start and startTime are the offset and capture time of buf[0].
	start     int64
	startTime time.Time
}

// NewChunker returns a chunker for rate Hz audio cutting chunks of d, which
// must be within 20ms..2s and a whole number of samples at rate.
func NewChunker(rate int, d time.Duration) (*Chunker, error) {
	if rate <= 0 || rate > maxResamplerRate {
		return nil, fmt.Errorf("new chunker: rate %d Hz is outside 1..%d", rate, maxResamplerRate)
	}
	if d < minChunk || d > maxChunk {
		return nil, fmt.Errorf("new chunker: chunk duration %v is outside %v..%v", d, minChunk, maxChunk)
	}
	ns := int64(d) * int64(rate)
	if ns%int64(time.Second) != 0 {
		return nil, fmt.Errorf("new chunker: chunk duration %v is %d/%d samples at %d Hz, not a whole number",
			d, ns, int64(time.Second), rate)
	}
	return &Chunker{rate: rate, buf: make([]int16, ns/int64(time.Second))}, nil
}

// Write appends samples, whose first sample was captured at t; sample i was
// captured at t + i/rate. emit is called synchronously by Write, on the
// caller's goroutine, for each chunk completed; it must not call back into c
// and must copy Chunk.Samples to keep them.
func (c *Chunker) Write(samples []int16, t time.Time, emit func(Chunk)) {
	for i := 0; i < len(samples); {
		if c.fill == 0 {
			c.startTime = t.Add(c.duration(i))
		}
		n := copy(c.buf[c.fill:], samples[i:])
		c.fill += n
		i += n
		if c.fill == len(c.buf) {
			c.emit(emit)
		}
	}
}

// Flush emits the buffered partial chunk, if any, so that no audio is held
// back across a gap or at the end of the stream. emit is called as by Write.
func (c *Chunker) Flush(emit func(Chunk)) {
	if c.fill > 0 {
		c.emit(emit)
	}
}

// Skip advances Offset by n samples that carry no audio, for a gap. Call
// Flush first: a buffered partial chunk is otherwise dropped, its samples
// becoming part of the gap. n <= 0 does nothing.
func (c *Chunker) Skip(n int64) {
	if n <= 0 {
		return
	}
	c.start += int64(c.fill) + n
	c.fill = 0
}

// Offset returns the offset of the next sample to be written.
func (c *Chunker) Offset() int64 { return c.start + int64(c.fill) }

// Reset starts a new epoch at offset 0, dropping any buffered samples.
func (c *Chunker) Reset() {
	c.start, c.fill = 0, 0
}

func (c *Chunker) emit(emit func(Chunk)) {
	ch := Chunk{Offset: c.start, CaptureTime: c.startTime, Samples: c.buf[:c.fill]}
	c.start += int64(c.fill)
	c.fill = 0
	emit(ch)
}

// duration returns the time n samples last, truncated to the nanosecond.
func (c *Chunker) duration(n int) time.Duration {
	return time.Duration(int64(n) * int64(time.Second) / int64(c.rate))
}
