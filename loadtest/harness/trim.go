package harness

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Trimming of the embedded broker's audio topics.
//
// kfake keeps a partition in in-memory segment files and frees a segment
// only once DeleteRecords has moved the log start offset past all of it;
// with Kafka's default segment size (kfake: 100 MiB) nothing of a run's
// audio would ever be freed, so the audio topics get trimSegmentBytes
// (Kafka's smallest log.segment.bytes).
const (
	trimEvery        = 2 * time.Second
	trimTimeout      = 5 * time.Second // of one request to the broker
	trimSegmentBytes = 1 << 20
)

// trimmer deletes the records of the audio topics of the harness's own
// embedded broker that their verifier has consumed: the verifier is the
// only reader of an audio topic in the harness, and reads it once, in
// order, so the broker need keep only what it has not read yet. Without
// it the broker holds the whole run's audio in the harness's heap, whose
// garbage collection then delays the broker's answers to the produce
// requests it measures (issue 14). The session starts it after its
// targets and stops it before the broker; never for a black-box target's
// brokers, nor for a fleet's registry and status topics.
type trimmer struct {
	cl     *kgo.Client
	adm    *kadm.Client
	log    *slog.Logger
	every  time.Duration
	topics map[string]*verifier // audio topic -> its verifier

	cancel context.CancelFunc
	done   chan struct{}

	// Owned by run.
	trimmed map[string]map[int32]int64 // the log start offset asked for
	warned  bool
}

// startTrimmer sets the segment size of topics on the broker at addr and
// trims them every `every` until stop. A trimmer that cannot reach the
// broker logs it once and leaves the records where they are: it only costs
// memory.
func startTrimmer(addr string, topics map[string]*verifier, log *slog.Logger, every time.Duration) (*trimmer, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID("earshot-loadtest-trim"))
	if err != nil {
		return nil, fmt.Errorf("loadtest: trim the embedded broker: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &trimmer{
		cl: cl, adm: kadm.NewClient(cl), log: log, every: every, topics: topics,
		cancel: cancel, done: make(chan struct{}), trimmed: make(map[string]map[int32]int64),
	}
	t.segments(ctx)
	go t.run(ctx)
	return t, nil
}

// segments gives the audio topics small segments, which trimming frees.
func (t *trimmer) segments(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, trimTimeout)
	defer cancel()
	size := strconv.Itoa(trimSegmentBytes)
	names := make([]string, 0, len(t.topics))
	for name := range t.topics {
		names = append(names, name)
	}
	rs, err := t.adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "segment.bytes", Value: &size}}, names...)
	if err == nil {
		for _, r := range rs {
			if r.Err != nil {
				err = fmt.Errorf("%s: %w", r.Name, r.Err)
				break
			}
		}
	}
	if err != nil {
		t.warn("segment size", err)
	}
}

// run trims every t.every until ctx ends.
func (t *trimmer) run(ctx context.Context) {
	defer close(t.done)
	tick := time.NewTicker(t.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := t.trim(ctx); err != nil && ctx.Err() == nil {
				t.warn("trim", err)
			}
		}
	}
}

// trim deletes, in every audio topic, the records before the verifier's
// next offset of each partition it has advanced in since the last trim.
func (t *trimmer) trim(ctx context.Context) error {
	var to kadm.Offsets
	for topic, v := range t.topics {
		for p, next := range v.offsets() {
			if next > t.trimmed[topic][int32(p)] {
				to.AddOffset(topic, int32(p), next, -1)
			}
		}
	}
	if len(to) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, trimTimeout)
	defer cancel()
	rs, err := t.adm.DeleteRecords(ctx, to)
	if err != nil {
		return err
	}
	var first error
	rs.Each(func(r kadm.DeleteRecordsResponse) {
		if r.Err != nil {
			if first == nil {
				first = fmt.Errorf("%s partition %d: %w", r.Topic, r.Partition, r.Err)
			}
			return
		}
		if t.trimmed[r.Topic] == nil {
			t.trimmed[r.Topic] = make(map[int32]int64)
		}
		t.trimmed[r.Topic][r.Partition] = r.LowWatermark
	})
	return first
}

// warn logs the first failure only: the run goes on, with the records kept.
func (t *trimmer) warn(what string, err error) {
	if t.warned {
		return
	}
	t.warned = true
	t.log.Warn("loadtest: the embedded broker keeps the records the verifier has read (further failures not logged)", "step", what, "err", err)
}

// stop ends trimming and waits for it.
func (t *trimmer) stop() {
	t.cancel()
	<-t.done
	t.cl.Close()
}
