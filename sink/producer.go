package sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// hangGrace is how long past its deadline a produce call may take before
// the producer is given up as hung.
const hangGrace = 2 * time.Second

// errHung is the error of a produce call that did not return in time.
var errHung = errors.New("produce call did not return after its deadline")

// producer is one generation of kafka-go transport and broker connections,
// and produces with kafka-go's Client, one produce request per partition's
// share of a call (as kafka-go's Writer does, without its batches, timers
// and goroutine per partition, which allocated ~20 KiB for every partition
// batch). The Writer replaces it after a produce that timed out or hung:
// kafka-go's transport may still be writing a request whose call gave up,
// and kafka-go has had bugs where a call blocks for good; a fresh producer
// inherits none of that.
type producer struct {
	client    *kafka.Client
	brokers   []string
	topic     string
	timeout   time.Duration // WriteTimeout, of the partition lookup
	acks      kafka.RequiredAcks
	codec     kafka.Compression
	transport *kafka.Transport
	conns     *connTracker
	stop      context.CancelFunc // stops the transport's goroutines
	calls     sync.WaitGroup     // Produce calls running

	// Reused from call to call of produce, which the Writer's goroutine
	// makes one at a time.
	partitions []int    // 0..n-1, for the balancer
	shares     []*share // by partition; nil until used, or after a transport error
	sending    []*share // the shares of the current call
	done       chan *share
	timer      *time.Timer
}

// share is one partition's part of a produce call: its request, the
// messages' indexes and the result.
type share struct {
	req      kafka.ProduceRequest
	records  shareRecords
	err      error         // of the request, for every record of the share
	recErrs  map[int]error // per record, by index in the share
	answered bool          // the broker answered, or no answer was due
}

func newProducer(cfg *WriterConfig, sec dialOptions) *producer {
	acks, _ := cfg.requiredAcks()
	codec, _ := cfg.compression()
	transport, conns, stop := newTransport(cfg, sec)
	return &producer{
		// Timeout bounds each request, and the broker is asked to answer
		// within half of it, as kafka-go's Writer does with WriteTimeout.
		client:    &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: transport, Timeout: cfg.WriteTimeout},
		brokers:   cfg.Brokers,
		topic:     cfg.Topic,
		timeout:   cfg.WriteTimeout,
		acks:      acks,
		codec:     codec,
		transport: transport,
		conns:     conns,
		stop:      stop,
	}
}

// newTransport returns a kafka-go transport whose connections are tracked,
// and the function that stops its goroutines.
func newTransport(cfg *WriterConfig, sec dialOptions) (*kafka.Transport, *connTracker, context.CancelFunc) {
	ctx, stop := context.WithCancel(context.Background())
	conns := newConnTracker(cfg.Dial)
	return &kafka.Transport{
		Dial:     conns.Dial,
		ClientID: "earshot",
		Context:  ctx,
		TLS:      sec.tls,
		SASL:     sec.sasl,
		// The transport serves metadata, and a failure to get it, from a
		// cache refreshed at random within MetadataTTL; kafka-go's 6 s
		// would delay recovery from an outage. Asking only for our topic
		// keeps frequent refreshes cheap.
		MetadataTTL:    metadataTTL,
		MetadataTopics: []string{cfg.Topic},
	}, conns, stop
}

// produce sends msgs, bounded by ctx, to the topic's parts partitions (asked
// of the brokers if 0), assigned as the batcher did: each partition's share
// in one produce request, on a goroutine of its own, all at once. It waits
// for them at most wait, and returns errHung if one is still running then:
// the producer must be retired. Like kafka-go's Writer with MaxAttempts 1,
// it does not retry (the Writer does) and returns nil if every share was
// acknowledged, else a kafka.WriteErrors aligned with msgs: a share's
// request error for each of its messages, nil for the acknowledged ones.
// Any other error means nothing was sent.
func (p *producer) produce(ctx context.Context, msgs []kafka.Message, parts int, wait time.Duration) error {
	if len(msgs) == 0 {
		return nil
	}
	if parts <= 0 {
		ids, err := topicPartitions(ctx, p.transport, p.brokers, p.topic, p.timeout)
		if err != nil {
			return err
		}
		parts = len(ids)
	}
	p.assign(msgs, parts)
	if cap(p.done) < len(p.sending) {
		p.done = make(chan *share, parts)
	}
	p.calls.Add(len(p.sending))
	for _, s := range p.sending {
		go p.send(ctx, s)
	}
	if p.timer == nil {
		p.timer = time.NewTimer(wait)
	} else {
		p.timer.Reset(wait)
	}
	for range p.sending {
		select {
		case <-p.done:
		case <-p.timer.C:
			return fmt.Errorf("%w (%s)", errHung, wait)
		}
	}
	p.timer.Stop()
	return p.result(msgs)
}

// assign groups msgs by partition, with the balancer kafka-go's Writer was
// given and the batcher uses, into p.sending.
func (p *producer) assign(msgs []kafka.Message, parts int) {
	if len(p.partitions) != parts {
		p.partitions = partitionIDs(parts)
		p.shares = make([]*share, parts)
	}
	p.sending = p.sending[:0]
	for i := range msgs {
		part := kafka.Murmur2Balancer{}.Balance(msgs[i], p.partitions...)
		s := p.shares[part]
		if s == nil {
			s = &share{}
			p.shares[part] = s
		}
		if len(s.records.idx) == 0 {
			s.req = kafka.ProduceRequest{
				Topic:        p.topic,
				Partition:    part,
				RequiredAcks: p.acks,
				Compression:  p.codec,
				Records:      &s.records,
			}
			p.sending = append(p.sending, s)
		}
		// The share keeps its own copy of the message: a request that got
		// no answer may still be encoded after produce returned, while
		// the caller reuses msgs.
		s.records.msgs = append(s.records.msgs, msgs[i])
		s.records.idx = append(s.records.idx, int32(i))
	}
}

// send produces s and hands it back on p.done. It runs on a goroutine of
// its own, started by produce.
func (p *producer) send(ctx context.Context, s *share) {
	defer p.calls.Done()
	res, err := p.client.Produce(ctx, &s.req)
	if d, ok := ctx.Deadline(); ok && err != nil && !time.Now().Before(d) && !errors.Is(err, context.DeadlineExceeded) {
		// The connection's deadline is ctx's, and may fire first: the
		// Writer tells a timed-out request (its producer is replaced)
		// by context.DeadlineExceeded, as kafka-go's Writer returned it.
		err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
	}
	s.err, s.recErrs, s.answered = err, nil, err == nil
	if res != nil {
		s.err, s.recErrs = res.Error, res.RecordErrors
	}
	p.done <- s
}

// result turns the results of p.sending into produce's error, and makes
// the shares ready for the next call. A share whose request got no answer
// is not reused: kafka-go's connection goroutine may still be encoding its
// records (Produce returns when ctx is done, whatever that goroutine does).
func (p *producer) result(msgs []kafka.Message) error {
	var werrs kafka.WriteErrors
	for _, s := range p.sending {
		if s.err != nil || len(s.recErrs) > 0 {
			if werrs == nil {
				werrs = make(kafka.WriteErrors, len(msgs))
			}
			s.fail(werrs)
		}
		if !s.answered {
			p.shares[s.req.Partition] = nil
			continue
		}
		s.records.reset()
		s.req.Records = nil
		s.err, s.recErrs = nil, nil
	}
	p.sending = p.sending[:0]
	if werrs == nil {
		return nil
	}
	return werrs
}

// fail sets the errors of s's messages in werrs. The broker rejects a
// partition's whole batch when it rejects one of its records, and then
// sets the partition's error: each message gets it, the rejected records
// with the broker's reason added.
func (s *share) fail(werrs kafka.WriteErrors) {
	for j, i := range s.records.idx {
		rerr := s.recErrs[j]
		switch {
		case rerr == nil:
			werrs[i] = s.err
		case s.err == nil:
			werrs[i] = rerr
		default:
			werrs[i] = fmt.Errorf("%w: record %d: %w", s.err, j, rerr)
		}
	}
}

// retire closes the producer's broker connections, so that whatever kafka-go
// still holds fails fast, and on a goroutine added to wg waits for running
// calls and closes the transport's idle connections.
func (p *producer) retire(wg *sync.WaitGroup) {
	p.conns.closeAll()
	p.stop()
	wg.Go(func() {
		p.calls.Wait()
		p.transport.CloseIdleConnections()
	})
}

// shareRecords is the kafka.RecordReader of a share: msgs, copies of the
// call's messages idx[0], idx[1], and so on. Like kafka-go's Writer's own
// reader it reuses one record and two byte readers, so reading allocates
// nothing; the record it returns is valid until the next call.
type shareRecords struct {
	msgs       []kafka.Message
	idx        []int32
	next       int
	record     kafka.Record
	key, value bytesReadCloser
}

// ReadRecord returns the next record, or io.EOF. kafka-go calls it while
// encoding the share's produce request.
func (r *shareRecords) ReadRecord() (*kafka.Record, error) {
	if r.next >= len(r.idx) {
		return nil, io.EOF
	}
	m := &r.msgs[r.next]
	r.next++
	r.record = kafka.Record{Time: m.Time, Headers: m.Headers}
	if m.Key != nil {
		r.key.Reset(m.Key)
		r.record.Key = &r.key
	}
	if m.Value != nil {
		r.value.Reset(m.Value)
		r.record.Value = &r.value
	}
	return &r.record, nil
}

// reset empties r for the next call, keeping its slices' room and
// dropping its references to the messages' bytes.
func (r *shareRecords) reset() {
	clear(r.msgs)
	r.msgs, r.idx, r.next = r.msgs[:0], r.idx[:0], 0
	r.record = kafka.Record{}
	r.key.Reset(nil)
	r.value.Reset(nil)
}

// bytesReadCloser is a key or value of a record being sent.
type bytesReadCloser struct{ bytes.Reader }

// Close does nothing: the bytes belong to the message.
func (*bytesReadCloser) Close() error { return nil }
