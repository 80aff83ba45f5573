package fleet

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/earshot/earshot/ingest"
)

// Registry reads and writes the fleet's stream registry and status topic.
// Any instance, and the command line, can use one; its methods are safe for
// concurrent use.
type Registry struct {
	cfg  Config
	cl   *kgo.Client
	part partitioner
}

// OpenRegistry checks the fleet topics (they exist, are compacted, and the
// registry keeps the partition count recorded on first use) and returns a
// Registry. Close it.
func OpenRegistry(ctx context.Context, cfg Config) (*Registry, error) {
	cfg.setDefaults()
	cl, err := newClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	n, _, err := checkTopics(ctx, cl, cfg)
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("fleet: %w", err)
	}
	return &Registry{cfg: cfg, cl: cl, part: newPartitioner(n)}, nil
}

// Close closes the registry's client.
func (r *Registry) Close() { r.cl.Close() }

// Partitions is the registry's partition count.
func (r *Registry) Partitions() int { return len(r.part.ids) }

// PartitionOf returns the registry partition of stream id.
func (r *Registry) PartitionOf(id string) int32 { return r.part.of(id) }

// Put writes the configuration of stream sc.ID, which adds or changes it
// on its owner. A URL with credentials is refused with ErrCredentials.
func (r *Registry) Put(ctx context.Context, sc ingest.StreamConfig) error {
	v, err := encodeStream(sc)
	if err != nil {
		return err
	}
	return r.write(ctx, sc.ID, v)
}

// Delete writes the tombstone of stream id, which stops it on its owner.
func (r *Registry) Delete(ctx context.Context, id string) error {
	if err := ingest.ValidateID(id); err != nil {
		return err
	}
	return r.write(ctx, id, nil)
}

func (r *Registry) write(ctx context.Context, id string, v []byte) error {
	rec := &kgo.Record{Topic: r.cfg.RegistryTopic, Partition: r.part.of(id), Key: []byte(id), Value: v}
	if err := r.cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("fleet: write stream %q to %s: %w", id, r.cfg.RegistryTopic, err)
	}
	return nil
}

// Entry is one stream of the registry.
type Entry struct {
	Stream    ingest.StreamConfig
	Partition int32
}

// List reads the whole registry and returns its streams sorted by id.
// Records that do not parse are skipped and counted in bad.
func (r *Registry) List(ctx context.Context) (streams []Entry, bad int, err error) {
	view := make(map[string]Entry)
	err = readTopic(ctx, r.cl, r.cfg.RegistryTopic, nil, func(rec *kgo.Record) {
		id := string(rec.Key)
		if id == metaKey {
			return
		}
		if rec.Value == nil {
			delete(view, id)
			return
		}
		sc, err := decodeStream(id, rec.Value)
		if err != nil {
			bad++
			return
		}
		view[id] = Entry{Stream: sc, Partition: rec.Partition}
	})
	if err != nil {
		return nil, bad, fmt.Errorf("fleet: %w", err)
	}
	streams = make([]Entry, 0, len(view))
	for _, e := range view {
		streams = append(streams, e)
	}
	slices.SortFunc(streams, func(a, b Entry) int { return cmp.Compare(a.Stream.ID, b.Stream.ID) })
	return streams, bad, nil
}

// Status is what an instance publishes about itself in the status topic.
type Status struct {
	Instance   string    `json:"instance"`
	Advertise  string    `json:"advertise,omitempty"`
	Partitions []int32   `json:"partitions"`
	Streams    int       `json:"streams"`
	Loaded     bool      `json:"loaded"`
	Fenced     bool      `json:"fenced,omitempty"`
	Time       time.Time `json:"time"`
}

// publish writes st under its instance, or the instance's tombstone if
// st.Time is zero.
func (r *Registry) publish(ctx context.Context, st Status) error {
	var v []byte
	if !st.Time.IsZero() {
		v, _ = json.Marshal(st)
	}
	rec := &kgo.Record{Topic: r.cfg.StatusTopic, Key: []byte(st.Instance), Value: v}
	if err := r.cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("fleet: write status of %q to %s: %w", st.Instance, r.cfg.StatusTopic, err)
	}
	return nil
}

// Instances reads the status topic and returns the last status of every
// instance that has not left, sorted by instance. An instance that was
// killed keeps its last status: its Time tells how old it is.
func (r *Registry) Instances(ctx context.Context) ([]Status, error) {
	last := make(map[string]Status)
	err := readTopic(ctx, r.cl, r.cfg.StatusTopic, nil, func(rec *kgo.Record) {
		if rec.Value == nil {
			delete(last, string(rec.Key))
			return
		}
		var st Status
		if json.Unmarshal(rec.Value, &st) == nil {
			last[string(rec.Key)] = st
		}
	})
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	out := make([]Status, 0, len(last))
	for _, st := range last {
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b Status) int { return cmp.Compare(a.Instance, b.Instance) })
	return out, nil
}
