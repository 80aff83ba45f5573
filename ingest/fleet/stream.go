package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"

	"github.com/segmentio/kafka-go"

	"github.com/earshot/earshot/ingest"
	"github.com/earshot/earshot/ingest/sdk"
)

// Sentinel errors of the registry.
var (
	// ErrCredentials: a URL written to the registry holds credentials,
	// which would sit in Kafka in clear text. Every instance reads them
	// from its own secret source instead.
	ErrCredentials = errors.New("url holds credentials: keep them out of the registry (EARSHOT_STREAM_<ID>_USER and _PASSWORD on every instance)")
	// ErrPartitionsChanged: the registry topic has another partition count
	// than the one recorded on first use.
	ErrPartitionsChanged = errors.New("registry partition count changed")
	// ErrTopic: a fleet topic is missing or not compacted.
	ErrTopic = errors.New("fleet topic unusable")
)

// streamValue is the JSON value of a registry record: the configuration of
// one stream, without its id (the key) and without credentials.
type streamValue struct {
	URL                string `json:"url"`
	Transport          string `json:"transport,omitempty"`
	FollowRedirects    string `json:"follow_redirects,omitempty"`
	Backend            string `json:"backend,omitempty"`
	CAFile             string `json:"ca_file,omitempty"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify,omitempty"`
}

// encodeStream validates sc and returns its registry value. URLs with
// credentials are refused with ErrCredentials.
func encodeStream(sc ingest.StreamConfig) ([]byte, error) {
	if err := (ingest.Config{Streams: []ingest.StreamConfig{sc}}).Validate(); err != nil {
		return nil, err
	}
	if u, err := url.Parse(sc.URL); err == nil && u.User != nil {
		return nil, fmt.Errorf("stream %q: url %s: %w", sc.ID, sdk.Redact(sc.URL), ErrCredentials)
	}
	return json.Marshal(streamValue{URL: sc.URL, Transport: sc.Transport, FollowRedirects: sc.FollowRedirects, Backend: sc.Backend, CAFile: sc.CAFile, InsecureSkipVerify: sc.InsecureSkipVerify})
}

// decodeStream parses the registry value of stream id. Errors name the
// stream, never a credential.
func decodeStream(id string, v []byte) (ingest.StreamConfig, error) {
	var sv streamValue
	if err := json.Unmarshal(v, &sv); err != nil {
		return ingest.StreamConfig{}, fmt.Errorf("stream %q: registry value is not a stream configuration: %w", id, err)
	}
	sc := ingest.StreamConfig{ID: id, URL: sv.URL, Transport: sv.Transport, FollowRedirects: sv.FollowRedirects, Backend: sv.Backend, CAFile: sv.CAFile, InsecureSkipVerify: sv.InsecureSkipVerify}
	if err := (ingest.Config{Streams: []ingest.StreamConfig{sc}}).Validate(); err != nil {
		return ingest.StreamConfig{}, err
	}
	return sc, nil
}

// metaKey is the key of the record that holds the registry's partition
// count, in partition 0. It is no valid stream id.
const metaKey = "#partitions"

// registryMeta is the value of the metaKey record.
type registryMeta struct {
	Partitions int `json:"partitions"`
}

// partitioner places stream ids on registry partitions as Java clients do
// (murmur2 of the key, positive, modulo the count), with kafka-go's balancer
// that sink uses for audio records.
type partitioner struct {
	ids []int // 0..n-1
}

func newPartitioner(n int) partitioner {
	p := partitioner{ids: make([]int, n)}
	for i := range p.ids {
		p.ids[i] = i
	}
	return p
}

// of returns the partition of stream id.
func (p partitioner) of(id string) int32 {
	return int32(kafka.Murmur2Balancer{}.Balance(kafka.Message{Key: []byte(id)}, p.ids...))
}
