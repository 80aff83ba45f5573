package sink

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// hangGrace is how long past its deadline a produce call may take before
// the producer is given up as hung.
const hangGrace = 2 * time.Second

// errHung is the error of a produce call that did not return in time.
var errHung = errors.New("produce call did not return after its deadline")

// producer is one generation of kafka-go writer, transport and broker
// connections. The Writer replaces it after a produce that timed out or hung:
// kafka-go keeps the batches of a timed-out WriteMessages queued internally
// and may write them later, and has had bugs where WriteMessages or Close
// block for good; a fresh producer inherits none of that.
type producer struct {
	kw        *kafka.Writer
	transport *kafka.Transport
	conns     *connTracker
	stop      context.CancelFunc // stops the transport's goroutines
	calls     sync.WaitGroup     // WriteMessages calls running
}

func newProducer(cfg *WriterConfig, sec dialOptions) *producer {
	acks, _ := cfg.requiredAcks()
	codec, _ := cfg.compression()
	transport, conns, stop := newTransport(cfg, sec)
	return &producer{
		transport: transport,
		conns:     conns,
		stop:      stop,
		kw: &kafka.Writer{
			Addr: kafka.TCP(cfg.Brokers...),
			// Topic is left empty: every message names it.
			Balancer:    &kafka.Murmur2Balancer{},
			MaxAttempts: 1,                               // the Writer retries, batch by batch
			BatchSize:   partitionRecords(cfg.BatchSize), // a share is one kafka-go batch
			BatchBytes:  cfg.BatchBytes,
			// The writer hands kafka-go each partition's share whole, in
			// one call, so waiting for a batch to fill only adds latency;
			// kafka-go cannot queue a batch before the call has added all
			// of its share (it holds the partition's lock meanwhile), and
			// zero would mean its default of 1 s.
			BatchTimeout: time.Microsecond,
			ReadTimeout:  cfg.WriteTimeout,
			WriteTimeout: cfg.WriteTimeout,
			RequiredAcks: acks,
			Compression:  codec,
			Transport:    transport,

			AllowAutoTopicCreation: false,
		},
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

// produce writes msgs with WriteMessages, bounded by ctx, on a goroutine of
// its own, and waits for it at most wait. It returns errHung if the call is
// still running then: the producer must be retired.
func (p *producer) produce(ctx context.Context, msgs []kafka.Message, wait time.Duration) error {
	res := make(chan error, 1)
	p.calls.Add(1)
	go func() {
		defer p.calls.Done()
		res <- p.kw.WriteMessages(ctx, msgs...)
	}()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case err := <-res:
		return err
	case <-t.C:
		return fmt.Errorf("%w (%s)", errHung, wait)
	}
}

// retire closes the producer's broker connections, so that whatever kafka-go
// still holds fails fast, and on a goroutine added to wg waits for running
// calls and closes the kafka-go writer (closing it while WriteMessages runs
// can hang it for good).
func (p *producer) retire(wg *sync.WaitGroup) {
	p.conns.closeAll()
	p.stop()
	wg.Go(func() {
		p.calls.Wait()
		p.kw.Close()
		p.transport.CloseIdleConnections()
	})
}
