package bufpool

import (
	"bytes"
	"testing"
)

// TestLargeBuffersAreNotKept: a buffer above MaxCap, once given back, is
// never lent again: one large frame must not keep its buffer for good.
func TestLargeBuffersAreNotKept(t *testing.T) {
	var p Pool
	large := p.Copy(make([]byte, 64<<10))
	p.Put(large)
	small := []byte{1, 2, 3}
	for range 8 {
		b := p.Copy(small)
		if b == large || cap(*b) > MaxCap {
			t.Fatalf("a %d-byte copy got a buffer of %d bytes, want at most %d", len(small), cap(*b), MaxCap)
		}
		if !bytes.Equal(*b, small) {
			t.Fatalf("copy = %v, want %v", *b, small)
		}
		p.Put(b)
	}
}

// BenchmarkCopyPut measures what lending adds to each frame's copy: one
// Get and one Put of a 160-byte PCMA payload's buffer.
func BenchmarkCopyPut(b *testing.B) {
	var p Pool
	payload := make([]byte, 160)
	b.ReportAllocs()
	for b.Loop() {
		p.Put(p.Copy(payload))
	}
}
