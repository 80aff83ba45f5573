package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// InitReport says what Init did, one line per topic.
type InitReport struct {
	Lines []string
}

func (r InitReport) String() string { return strings.Join(r.Lines, "\n") }

// Init creates the registry topic with the given number of partitions and
// the status topic, both compacted, and records the registry's partition
// count. Topics that exist already are checked, not changed. Size the
// registry at 4 times the most instances the fleet will run, or more: its
// partition count can never change.
func Init(ctx context.Context, cfg Config, partitions int) (InitReport, error) {
	cfg.setDefaults()
	if partitions < 1 || partitions > 1<<14 {
		return InitReport{}, fmt.Errorf("fleet init: partitions %d is outside 1..16384", partitions)
	}
	cl, err := newClient(cfg)
	if err != nil {
		return InitReport{}, fmt.Errorf("fleet init: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	compact := map[string]*string{"cleanup.policy": new("compact")}
	var rep InitReport
	for _, t := range []struct {
		name string
		n    int32
	}{{cfg.RegistryTopic, int32(partitions)}, {cfg.StatusTopic, 1}} {
		res, err := adm.CreateTopic(ctx, t.n, -1, compact, t.name)
		switch {
		case errors.Is(err, kerr.TopicAlreadyExists):
			rep.Lines = append(rep.Lines, fmt.Sprintf("topic %s exists: checked, not changed", t.name))
		case err != nil:
			return rep, fmt.Errorf("fleet init: create topic %s: %w", t.name, err)
		default:
			rep.Lines = append(rep.Lines, fmt.Sprintf("created topic %s: %d partitions, cleanup.policy=compact", t.name, res.NumPartitions))
		}
	}
	n, recorded, err := checkTopics(ctx, cl, cfg)
	if err != nil {
		return rep, fmt.Errorf("fleet init: %w", err)
	}
	if n != partitions {
		rep.Lines = append(rep.Lines, fmt.Sprintf("registry %s keeps its %d partitions (asked %d): a partition count never changes", cfg.RegistryTopic, n, partitions))
	}
	if recorded {
		rep.Lines = append(rep.Lines, fmt.Sprintf("recorded the registry's partition count %d in %s", n, cfg.RegistryTopic))
	}
	return rep, nil
}

// checkTopics checks that both fleet topics exist and are compacted and
// that the registry has the partition count recorded on first use, which
// it records if there is none yet (recorded true). It returns the
// registry's partition count.
func checkTopics(ctx context.Context, cl *kgo.Client, cfg Config) (n int, recorded bool, err error) {
	adm := kadm.NewClient(cl)
	topics := []string{cfg.RegistryTopic, cfg.StatusTopic}
	details, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return 0, false, fmt.Errorf("list topics %v: %w", topics, err)
	}
	fix := "create it with `earshot fleet init --partitions N`"
	var errs []error
	for _, t := range topics {
		d, ok := details[t]
		if !ok || d.Err != nil || len(d.Partitions) == 0 {
			errs = append(errs, fmt.Errorf("%w: topic %s does not exist: %s", ErrTopic, t, fix))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return 0, false, err
	}
	configs, err := adm.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		return 0, false, fmt.Errorf("describe topics %v: %w", topics, err)
	}
	for _, t := range topics {
		rc, err := configs.On(t, nil)
		if err == nil {
			err = rc.Err
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("describe topic %s: %w", t, err))
			continue
		}
		policy := ""
		for _, c := range rc.Configs {
			if c.Key == "cleanup.policy" && c.Value != nil {
				policy = *c.Value
			}
		}
		if !slices.Contains(strings.Split(policy, ","), "compact") {
			errs = append(errs, fmt.Errorf("%w: topic %s has cleanup.policy=%q, not compact: without compaction removed and old stream configurations are lost when its retention expires; set it with `kafka-configs --alter --entity-type topics --entity-name %s --add-config cleanup.policy=compact`", ErrTopic, t, policy, t))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return 0, false, err
	}
	n = len(details[cfg.RegistryTopic].Partitions)

	var meta *registryMeta
	err = readTopic(ctx, cl, cfg.RegistryTopic, []int32{0}, func(r *kgo.Record) {
		if string(r.Key) != metaKey || r.Value == nil {
			return
		}
		var m registryMeta
		if json.Unmarshal(r.Value, &m) == nil {
			meta = &m
		}
	})
	if err != nil {
		return 0, false, err
	}
	if meta != nil {
		if meta.Partitions != n {
			return 0, false, fmt.Errorf("%w: topic %s has %d partitions, %d when first used: stream ids would move to other partitions and two instances could pull one stream; recreate the registry with %d partitions and write its streams again", ErrPartitionsChanged, cfg.RegistryTopic, n, meta.Partitions, meta.Partitions)
		}
		return n, false, nil
	}
	v, _ := json.Marshal(registryMeta{Partitions: n})
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: cfg.RegistryTopic, Partition: 0, Key: []byte(metaKey), Value: v}).FirstErr(); err != nil {
		return 0, false, fmt.Errorf("record the partition count of %s: %w", cfg.RegistryTopic, err)
	}
	return n, true, nil
}

// readTopic calls fn for every record of the given partitions of topic
// (every partition if nil) from the start to the end they had when it
// started, on the calling goroutine.
func readTopic(ctx context.Context, cl *kgo.Client, topic string, partitions []int32, fn func(*kgo.Record)) error {
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	if err := ends.Error(); err != nil {
		return fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("start offsets of %s: %w", topic, err)
	}
	want := make(map[int32]int64) // partition -> end offset still to reach
	ends.Each(func(o kadm.ListedOffset) {
		if partitions != nil && !slices.Contains(partitions, o.Partition) {
			return
		}
		if s, ok := starts.Lookup(topic, o.Partition); ok && s.Offset >= o.Offset {
			return // empty
		}
		want[o.Partition] = o.Offset
	})
	if len(want) == 0 {
		return nil
	}
	from := make(map[int32]kgo.Offset, len(want))
	for p := range want {
		from[p] = kgo.NewOffset().AtStart()
	}
	rd, err := kgo.NewClient(append(cl.Opts(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}))...)
	if err != nil {
		return fmt.Errorf("read %s: %w", topic, err)
	}
	defer rd.Close()
	for len(want) > 0 {
		fs := rd.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read %s: %w", topic, err)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("read %s partition %d: %w", t, p, err) })
		if ferr != nil {
			return ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := want[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			fn(r)
			if r.Offset+1 >= end {
				delete(want, r.Partition)
			}
		})
	}
	return nil
}

// newClient returns a client of the brokers of cfg that produces to the
// partition each record names, with extra options.
func newClient(cfg Config, extra ...kgo.Opt) (*kgo.Client, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0),
	}
	opts = append(opts, cfg.ClientOpts...)
	return kgo.NewClient(append(opts, extra...)...)
}
