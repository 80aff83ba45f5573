package sink

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// checkTopic checks a Kafka topic name: 1 to 249 characters of
// [a-zA-Z0-9._-], not "." or "..".
func checkTopic(topic string) error {
	switch {
	case topic == "":
		return errors.New("empty topic name")
	case len(topic) > 249:
		return fmt.Errorf("%d characters is longer than 249", len(topic))
	case topic == "." || topic == "..":
		return errors.New("not a valid topic name")
	}
	for i := 0; i < len(topic); i++ {
		c := topic[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '.' && c != '_' && c != '-' {
			return fmt.Errorf("character %q is outside [a-zA-Z0-9._-]", c)
		}
	}
	return nil
}

// topicPartitions asks the brokers for topic's metadata, without creating
// the topic, and returns its partition ids. Its errors name the topic.
func topicPartitions(ctx context.Context, rt kafka.RoundTripper, brokers []string, topic string, timeout time.Duration) ([]int, error) {
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: rt, Timeout: timeout}
	res, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("sink: metadata of topic %q from brokers %v: %w", topic, brokers, err)
	}
	for _, t := range res.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("sink: topic %q: %w", topic, t.Error)
		}
		if len(t.Partitions) == 0 {
			return nil, fmt.Errorf("sink: topic %q has no partitions", topic)
		}
		ids := make([]int, len(t.Partitions))
		for i, p := range t.Partitions {
			ids[i] = p.ID
		}
		return ids, nil
	}
	return nil, fmt.Errorf("sink: topic %q: %w", topic, kafka.UnknownTopicOrPartition)
}

// topicMaxMessageBytes asks the brokers for the topic's max.message.bytes:
// the largest record batch they accept.
func topicMaxMessageBytes(ctx context.Context, rt kafka.RoundTripper, brokers []string, topic string, timeout time.Duration) (int64, error) {
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: rt, Timeout: timeout}
	res, err := c.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{
		Resources: []kafka.DescribeConfigRequestResource{{
			ResourceType: kafka.ResourceTypeTopic,
			ResourceName: topic,
			ConfigNames:  []string{"max.message.bytes", "message.max.bytes"},
		}},
	})
	if err != nil {
		return 0, fmt.Errorf("sink: describe topic %q: %w", topic, err)
	}
	// Kafka answers the topic's effective max.message.bytes; some brokers
	// (kfake) list the broker-wide message.max.bytes beside it: the
	// smaller applies.
	limit := int64(0)
	for _, r := range res.Resources {
		if r.Error != nil {
			return 0, fmt.Errorf("sink: describe topic %q: %w", topic, r.Error)
		}
		for _, e := range r.ConfigEntries {
			if e.ConfigName != "max.message.bytes" && e.ConfigName != "message.max.bytes" {
				continue
			}
			n, err := strconv.ParseInt(e.ConfigValue, 10, 64)
			if err != nil || n <= recordBatchOverhead {
				return 0, fmt.Errorf("sink: topic %q: %s %q is not usable", topic, e.ConfigName, e.ConfigValue)
			}
			if limit == 0 || n < limit {
				limit = n
			}
		}
	}
	if limit == 0 {
		return 0, fmt.Errorf("sink: topic %q: no max.message.bytes in the answer", topic)
	}
	return limit, nil
}
