package harness

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// appendObserver measures pipeline latency where it ends: it sees every
// produce request the embedded broker receives, just before the broker
// appends it, and counts, per topic, how long after its capture time (the
// record timestamp, in milliseconds) each audio record arrived. Control
// records (no PCM) are not counted: a gap record's timestamp is the start
// of the gap. A batch produced twice is counted twice.
type appendObserver struct {
	mu     sync.Mutex
	topics map[string]*Histogram
}

// observeAppends starts observing the produce requests of c for topics.
// It lasts as long as the cluster.
func observeAppends(c *kfake.Cluster, topics []string) *appendObserver {
	o := &appendObserver{topics: make(map[string]*Histogram)}
	for _, t := range topics {
		o.topics[t] = &Histogram{}
	}
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		o.observe(req, time.Now())
		return nil, nil, false // the broker handles it as usual
	})
	return o
}

// observe is called by kfake, on a goroutine of its own per request, for
// every produce request; it must not block.
func (o *appendObserver) observe(req kmsg.Request, now time.Time) {
	pr, ok := req.(*kmsg.ProduceRequest)
	if !ok {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, t := range pr.Topics {
		h := o.topics[t.Topic]
		if h == nil {
			continue
		}
		for _, p := range t.Partitions {
			eachAudioTimestamp(p.Records, func(capture time.Time) { h.Add(now.Sub(capture)) })
		}
	}
}

// snapshot returns a copy of topic's latencies so far.
func (o *appendObserver) snapshot(topic string) *Histogram {
	o.mu.Lock()
	defer o.mu.Unlock()
	if h := o.topics[topic]; h != nil {
		return h.Clone()
	}
	return &Histogram{}
}

// eachAudioTimestamp calls fn with the timestamp of every record with a
// value in the uncompressed record batches of b; compressed batches are
// skipped.
func eachAudioTimestamp(b []byte, fn func(time.Time)) {
	for len(b) >= 12 {
		n := 12 + int(int32(binary.BigEndian.Uint32(b[8:12])))
		if n < 12 || n > len(b) {
			return
		}
		var batch kmsg.RecordBatch
		if batch.ReadFrom(b[:n]) != nil || batch.Attributes&0x07 != 0 {
			b = b[n:]
			continue
		}
		recs := batch.Records
		for range batch.NumRecords {
			l, k := binary.Varint(recs)
			if k <= 0 || l < 0 || k+int(l) > len(recs) {
				break
			}
			var r kmsg.Record
			if r.ReadFrom(recs[:k+int(l)]) == nil && len(r.Value) > 0 {
				fn(time.UnixMilli(batch.FirstTimestamp + r.TimestampDelta64))
			}
			recs = recs[k+int(l):]
		}
		b = b[n:]
	}
}
