package fleet

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/earshot/earshot/ingest"
)

// StateUnknown is the state of a stream of the fleet that another
// instance runs, as far as this instance knows without asking it.
const StateUnknown ingest.State = "unknown"

// View is the whole fleet as one reader sees it: every stream of the
// registry and the last status of every instance. A Member keeps it
// current with one client that tails both topics (no group: it reads every
// partition), so that the fleet API and the console read memory instead of
// the topics. Its memory is the registry's streams (their configuration,
// a few hundred bytes each) and one status per instance.
type View struct {
	cfg Config

	mu      sync.Mutex
	streams map[string]Entry
	status  map[string]Status
	bad     atomic.Uint64
	loaded  chan struct{} // closed once both topics were read to their end at start
}

func newView(cfg Config) *View {
	return &View{cfg: cfg, streams: make(map[string]Entry), status: make(map[string]Status), loaded: make(chan struct{})}
}

// viewPoll bounds how long the view's fetches wait for new records.
const viewPoll = 500 * time.Millisecond

// run tails the registry and status topics with the options of base until
// ctx is done; it starts again a second after an error.
func (v *View) run(ctx context.Context, base *kgo.Client) {
	for {
		err := v.tail(ctx, base)
		if ctx.Err() != nil {
			return
		}
		v.cfg.Logger.Warn("fleet view: reading the fleet topics again in 1s", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// tail reads both topics from their start into the view, then follows
// them until ctx is done.
func (v *View) tail(ctx context.Context, base *kgo.Client) error {
	adm := kadm.NewClient(base)
	topics := []string{v.cfg.RegistryTopic, v.cfg.StatusTopic}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("fleet view: end offsets of %v: %w", topics, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fmt.Errorf("fleet view: start offsets of %v: %w", topics, err)
	}
	type tp struct {
		t string
		p int32
	}
	want := make(map[tp]int64) // partitions still to read to their end at start
	ends.Each(func(o kadm.ListedOffset) {
		if s, ok := starts.Lookup(o.Topic, o.Partition); !ok || s.Offset < o.Offset {
			want[tp{o.Topic, o.Partition}] = o.Offset
		}
	})
	v.mu.Lock()
	clear(v.streams) // read again from the start
	clear(v.status)
	v.mu.Unlock()
	if len(want) == 0 {
		v.markLoaded()
	}
	rd, err := kgo.NewClient(append(base.Opts(),
		kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(viewPoll))...)
	if err != nil {
		return fmt.Errorf("fleet view: %w", err)
	}
	defer rd.Close()
	for {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			v.cfg.Logger.Warn("fleet view: fetch", "topic", t, "partition", p, "err", err)
		})
		v.mu.Lock()
		fs.EachRecord(func(r *kgo.Record) {
			v.applyLocked(r)
			k := tp{r.Topic, r.Partition}
			if end, ok := want[k]; ok && r.Offset+1 >= end {
				delete(want, k)
				if len(want) == 0 {
					v.markLoaded()
				}
			}
		})
		v.mu.Unlock()
	}
}

func (v *View) markLoaded() {
	select {
	case <-v.loaded:
	default:
		close(v.loaded)
	}
}

func (v *View) applyLocked(r *kgo.Record) {
	key := string(r.Key)
	if r.Topic == v.cfg.StatusTopic {
		var st Status
		switch {
		case r.Value == nil:
			delete(v.status, key)
		case json.Unmarshal(r.Value, &st) == nil:
			v.status[key] = st
		default:
			v.bad.Add(1)
		}
		return
	}
	if key == metaKey {
		return
	}
	if r.Value == nil {
		delete(v.streams, key)
		return
	}
	sc, err := decodeStream(key, r.Value)
	if err != nil {
		v.bad.Add(1)
		return
	}
	v.streams[key] = Entry{Stream: sc, Partition: r.Partition}
}

// Wait returns nil once the view has read both topics up to the end they
// had when it started, or ctx's error.
func (v *View) Wait(ctx context.Context) error {
	select {
	case <-v.loaded:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("fleet view not loaded yet: %w", ctx.Err())
	}
}

// Streams returns every stream of the registry sorted by id, with the
// owner of each (the instance whose latest status lists its partition, ""
// if none does).
func (v *View) Streams() []APIStream {
	v.mu.Lock()
	defer v.mu.Unlock()
	owners := Owners(slices.Collect(maps.Values(v.status)))
	out := make([]APIStream, 0, len(v.streams))
	for _, e := range v.streams {
		out = append(out, apiStream(e, owners[e.Partition]))
	}
	slices.SortFunc(out, func(a, b APIStream) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Stream returns stream id's registry entry and the status of its owner
// (zero if no instance lists its partition).
func (v *View) Stream(id string) (APIStream, Status, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.streams[id]
	if !ok {
		return APIStream{}, Status{}, false
	}
	var owner Status
	for _, st := range v.status {
		if slices.Contains(st.Partitions, e.Partition) && st.Time.After(owner.Time) {
			owner = st
		}
	}
	return apiStream(e, owner.Instance), owner, true
}

// Instances returns the last status of every instance that has not left,
// sorted by instance.
func (v *View) Instances() []Status {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := slices.Collect(maps.Values(v.status))
	slices.SortFunc(out, func(a, b Status) int { return cmp.Compare(a.Instance, b.Instance) })
	return out
}

// BadRecords counts the records of either topic that did not parse.
func (v *View) BadRecords() uint64 { return v.bad.Load() }

func apiStream(e Entry, owner string) APIStream {
	return APIStream{ID: e.Stream.ID, URL: e.Stream.URL, Transport: e.Stream.Transport, Partition: e.Partition, Owner: owner}
}
