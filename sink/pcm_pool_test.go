package sink

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/earshot/earshot/sink/schema"
	"github.com/earshot/earshot/sink/schema/schematest"
)

// pcmObserver counts acknowledged records, signalling each
// acknowledgement, and stops failing (see dial) after the first failed
// produce.
type pcmObserver struct {
	acked   atomic.Int64
	ackedCh chan struct{} // capacity 1
	failing atomic.Bool   // dial refuses connections
}

func newPCMObserver(failing bool) *pcmObserver {
	o := &pcmObserver{ackedCh: make(chan struct{}, 1)}
	o.failing.Store(failing)
	return o
}

func (o *pcmObserver) Produced(_ time.Duration, _ int, err error) {
	if err != nil {
		o.failing.Store(false)
	}
}

func (o *pcmObserver) Acknowledged(arrivals []time.Time) {
	o.acked.Add(int64(len(arrivals)))
	select {
	case o.ackedCh <- struct{}{}:
	default:
	}
}

func (o *pcmObserver) Dropped(Drop) {}

// dial refuses connections while o is failing.
func (o *pcmObserver) dial(ctx context.Context, network, address string) (net.Conn, error) {
	if o.failing.Load() {
		return nil, errBrokerDown
	}
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}

// pcmOf returns the PCM of record seq of stream: bytes that differ from
// record to record, 200 ms of 16 kHz mono but for one record in ten,
// shorter (as a stream's last chunk).
func pcmOf(stream string, seq uint64) []byte {
	var seed [8]byte
	copy(seed[:], stream)
	rng := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:]), seq))
	frames := 3200
	if seq%10 == 9 {
		frames = 1 + rng.IntN(frames)
	}
	b := make([]byte, 2*frames)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// allocAudio returns audio record seq of stream with its PCM (pcmOf) in a
// buffer from w.AllocPCM.
func allocAudio(w *Writer, stream string, seq uint64) schema.Record {
	r := schematest.Audio(stream, seq)
	pcm := pcmOf(stream, seq)
	r.PCM = append(w.AllocPCM(len(pcm)), pcm...)
	return r
}

// bufID identifies the array of a buffer from AllocPCM.
func bufID(b []byte) *byte { return &b[:1][0] }

// The buffer of a record's PCM comes back from AllocPCM once nothing can
// read it any more, and only then.
func TestAllocPCMTakesBuffersBackOnlyWhenNothingReadsThem(t *testing.T) {
	for _, c := range []struct {
		name  string
		fail  bool // the first produce fails
		spool bool // Write spools the record (Kafka down, memory full)
		back  bool // the buffer comes back
	}{
		{name: "a record acknowledged at the first attempt gives its buffer back", back: true},
		{name: "a record acknowledged after a failed attempt does not: the producer may still send it", fail: true},
		{name: "a record Write copies into the spool gives its buffer back at once", spool: true, back: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr := startBroker(t, testTopic)
			obs := newPCMObserver(c.fail || c.spool)
			cfg := WriterConfig{Brokers: []string{addr}, Topic: testTopic, Dial: obs.dial, Observer: obs, Logger: discardLogger}
			if c.spool {
				cfg.Dial, cfg.BufferBytes, cfg.CloseTimeout = downDial, 1, time.Millisecond
				cfg.Spool = SpoolConfig{Dir: t.TempDir()}
			}
			w, err := NewWriter(cfg)
			if err != nil {
				t.Fatal(err)
			}
			r := allocAudio(w, "cam-1", 0)
			first := bufID(r.PCM)
			if err := w.Write(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			if !c.spool {
				// The writer's goroutine has delivered the record and
				// is done with its batch once Close returns.
				if err := w.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				if st := w.Stats(); st.Delivered != 1 || (st.Retries > 0) != c.fail {
					t.Fatalf("stats %+v: want 1 delivered, retried: %v", st, c.fail)
				}
			}
			again := w.AllocPCM(len(r.PCM))
			if got := bufID(again) == first; got != c.back {
				t.Errorf("AllocPCM handed the record's buffer out again: %v, want %v", got, c.back)
			}
			if c.spool {
				if st := w.Stats(); st.SpoolRecords != 1 {
					t.Errorf("stats %+v: want the record spooled", st)
				}
				if err := w.Close(); !errors.Is(err, ErrUndelivered) {
					t.Errorf("Close: %v, want the record left in the spool", err)
				}
			}
		})
	}
}

// Records whose PCM buffers are taken back and handed out again reach Kafka
// exactly as they were written: no buffer is reused before its record is
// acknowledged. The records are written while earlier ones are in flight,
// at most window ahead of the acknowledgements, so that buffers are reused.
func TestRecycledPCMReachesKafkaIntact(t *testing.T) {
	const (
		streams = 6
		perStr  = 300
		total   = streams * perStr
		window  = 150
	)
	addr := startBroker(t, testTopic)
	obs := newPCMObserver(false)
	w, err := NewWriter(WriterConfig{
		Brokers: []string{addr}, Topic: testTopic, Observer: obs, Logger: discardLogger,
		BatchSize: 32, BatchTimeout: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	bufs := make(map[*byte]bool)
	for i := range total {
		for int64(i)-obs.acked.Load() > window {
			<-obs.ackedCh
		}
		r := allocAudio(w, fmt.Sprintf("cam-%d", i%streams), uint64(i/streams))
		bufs[bufID(r.PCM)] = true
		if err := w.Write(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if len(bufs) > total/2 {
		t.Fatalf("%d records used %d buffers: too few were reused for the test to mean anything", total, len(bufs))
	}
	got := make(map[string]bool)
	for _, m := range readAll(t, addr, testTopic, total) {
		r, err := ParseMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprintf("%s/%d", r.Stream, r.Seq)
		if got[key] {
			t.Errorf("record %s delivered twice", key)
		}
		got[key] = true
		if want := pcmOf(r.Stream, r.Seq); !bytes.Equal(r.PCM, want) {
			t.Errorf("record %s: Kafka has PCM that differs from what was written (%d bytes, want %d)", key, len(r.PCM), len(want))
		}
	}
	t.Logf("%d records, %d buffers", total, len(bufs))
}

// The pool takes back only the buffers it handed out, filled to the size
// asked for, once each.
func TestPCMPoolTakesBackItsOwnBuffersOnly(t *testing.T) {
	p := newPCMPool()
	other := newPCMPool()
	for _, c := range []struct {
		name string
		buf  func() []byte
		back bool
	}{
		{"a buffer it handed out, filled", func() []byte { return append(p.get(4), 1, 2, 3, 4) }, true},
		{"a buffer filled short", func() []byte { return append(p.get(4), 1, 2) }, false},
		{"a buffer filled past its size, over the mark", func() []byte { return append(p.get(4), 1, 2, 3, 4, 5, 6) }, false},
		{"another pool's buffer", func() []byte { return append(other.get(4), 1, 2, 3, 4) }, false},
		{"a buffer of the caller's", func() []byte { return append(make([]byte, 0, 4+pcmMarkLen), 1, 2, 3, 4) }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := c.buf()
			p.put(b)
			p.put(b) // given back twice, kept once
			first, second := p.get(4), p.get(4)
			if got := bufID(first) == bufID(b); got != c.back {
				t.Errorf("handed out again: %v, want %v", got, c.back)
			}
			if bufID(second) == bufID(b) {
				t.Error("handed out twice")
			}
		})
	}
}
