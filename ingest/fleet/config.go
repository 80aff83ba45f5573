// Package fleet shares one stream registry between many earshot instances
// through Kafka group membership: the registry is a compacted topic (key the
// stream id, value its configuration, tombstone its removal), and a Kafka
// consumer group over it (franz-go's kgo, cooperative-sticky, static
// membership) decides which instance pulls which registry partition. The
// package builds no consensus of its own.
package fleet

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Config configures a Member. Group and Brokers are required; every other
// field has a usable zero value.
type Config struct {
	// Brokers are the Kafka bootstrap addresses (host:port). Required.
	Brokers []string
	// Group is the Kafka consumer group of the fleet. Required: the caller
	// runs a single instance, with no Member, when it is empty.
	Group string
	// RegistryTopic is the compacted topic of stream configurations. Its
	// partition count fixes the shards and must never change. It defaults
	// to "earshot.streams".
	RegistryTopic string
	// StatusTopic is the compacted topic where each instance publishes its
	// status under its InstanceID. It defaults to "earshot.status".
	StatusTopic string
	// InstanceID names this instance in the fleet and is its static group
	// member id. It defaults to the hostname.
	InstanceID string
	// SessionTimeout is how long the group coordinator waits for a
	// heartbeat before it gives this instance's partitions to others; the
	// broker bounds it (6 s at least by default). It defaults to 10 s.
	SessionTimeout time.Duration
	// HeartbeatInterval is the pause between heartbeats. It defaults to 1 s.
	HeartbeatInterval time.Duration
	// RebalanceTimeout bounds a rebalance, including the revocation of
	// partitions (their streams are stopped and flushed first). It
	// defaults to SessionTimeout.
	RebalanceTimeout time.Duration
	// FenceMargin is how long before SessionTimeout runs out, counted from
	// the last completed heartbeat, the instance stops every stream: it
	// must stop before the coordinator lets another instance take them. It
	// defaults to the larger of 2 heartbeat intervals and a fifth of
	// SessionTimeout.
	FenceMargin time.Duration
	// StatusInterval is the pause between two status records. It defaults
	// to 5 s.
	StatusInterval time.Duration
	// Advertise is this instance's admin URL as other instances reach it,
	// published in the status topic. It defaults to "".
	Advertise string
	// ClientOpts are added to every franz-go client (TLS, SASL, dialer).
	// It defaults to none.
	ClientOpts []kgo.Opt
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Default topic names.
const (
	DefaultRegistryTopic = "earshot.streams"
	DefaultStatusTopic   = "earshot.status"
)

func (c *Config) setDefaults() {
	if c.RegistryTopic == "" {
		c.RegistryTopic = DefaultRegistryTopic
	}
	if c.StatusTopic == "" {
		c.StatusTopic = DefaultStatusTopic
	}
	if c.InstanceID == "" {
		if h, err := os.Hostname(); err == nil {
			c.InstanceID = h
		}
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 10 * time.Second
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = time.Second
	}
	if c.RebalanceTimeout == 0 {
		c.RebalanceTimeout = c.SessionTimeout
	}
	if c.FenceMargin == 0 {
		c.FenceMargin = max(2*c.HeartbeatInterval, c.SessionTimeout/5)
	}
	if c.StatusInterval == 0 {
		c.StatusInterval = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// WithDefaults returns c with the default of every unset field, such as
// the instance id (the hostname).
func (c Config) WithDefaults() Config {
	c.setDefaults()
	return c
}

// validate reports every problem of c. Defaults must be applied.
func (c *Config) validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("no brokers"))
	}
	if c.Group == "" {
		errs = append(errs, errors.New("group is empty"))
	}
	if c.InstanceID == "" {
		errs = append(errs, errors.New("instance id is empty and the hostname is unknown"))
	}
	if c.RegistryTopic == c.StatusTopic {
		errs = append(errs, fmt.Errorf("registry and status topics are both %q", c.StatusTopic))
	}
	if c.HeartbeatInterval <= 0 || c.HeartbeatInterval*3 > c.SessionTimeout {
		errs = append(errs, fmt.Errorf("heartbeat interval %s must be positive and at most a third of session timeout %s", c.HeartbeatInterval, c.SessionTimeout))
	}
	if c.FenceMargin <= 0 || c.FenceMargin >= c.SessionTimeout-c.HeartbeatInterval {
		errs = append(errs, fmt.Errorf("fence margin %s must be positive and below session timeout %s minus heartbeat interval %s", c.FenceMargin, c.SessionTimeout, c.HeartbeatInterval))
	}
	if c.RebalanceTimeout < c.HeartbeatInterval {
		errs = append(errs, fmt.Errorf("rebalance timeout %s is below heartbeat interval %s", c.RebalanceTimeout, c.HeartbeatInterval))
	}
	if c.StatusInterval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("status interval %s is below 100ms", c.StatusInterval))
	}
	return errors.Join(errs...)
}

// Validate reports every problem of c, with defaults applied to unset
// fields.
func (c Config) Validate() error {
	c.setDefaults()
	return c.validate()
}
