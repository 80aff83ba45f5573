package sink

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kfake"
)

// StartEmbeddedBroker starts an in-process, in-memory Kafka broker (kfake,
// which speaks the real protocol over TCP) on 127.0.0.1 at a free port, with
// topic created with the given number of partitions. Topics are not created
// on demand. It returns the broker's host:port and a function that stops it;
// clients should be closed first. For demos and tests only: nothing is
// persisted.
func StartEmbeddedBroker(topic string, partitions int) (addr string, stop func(), err error) {
	if err := checkTopic(topic); err != nil {
		return "", nil, fmt.Errorf("sink: embedded broker: topic %q: %w", topic, err)
	}
	if partitions < 1 || partitions > 1<<16 {
		return "", nil, fmt.Errorf("sink: embedded broker: partitions must be 1 to 65536, got %d", partitions)
	}
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.SeedTopics(int32(partitions), topic),
	)
	if err != nil {
		return "", nil, fmt.Errorf("sink: embedded broker: %w", err)
	}
	addrs := c.ListenAddrs()
	if len(addrs) != 1 {
		c.Close()
		return "", nil, errors.New("sink: embedded broker: no listen address")
	}
	return addrs[0], c.Close, nil
}
