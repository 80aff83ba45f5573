package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/earshot/earshot/ingest"
	"github.com/earshot/earshot/ingest/fleet"
	"github.com/earshot/earshot/sink"
)

// FleetConfig maps to fleet.Config: with Group empty (the default) earshot
// runs as a single instance over its streams list.
type FleetConfig struct {
	Group             string        `yaml:"group"`              // Kafka consumer group of the fleet; "" (default): single instance
	RegistryTopic     string        `yaml:"registry_topic"`     // default earshot.streams; compacted; its partition count never changes
	StatusTopic       string        `yaml:"status_topic"`       // default earshot.status; compacted; one record per instance
	InstanceID        string        `yaml:"instance_id"`        // default: the hostname; also the static group member id
	SessionTimeout    time.Duration `yaml:"session_timeout"`    // default 10s: failure detection (brokers allow 6s at least)
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"` // default 1s
	Advertise         string        `yaml:"advertise"`          // this instance's admin URL as other instances reach it; default: http:// and the admin listener's address unless it listens on every interface ("" then)
}

// on says whether fleet mode is configured.
func (f FleetConfig) on() bool { return f.Group != "" }

// fleetConfig maps the fleet section, with the Kafka brokers and security
// of the kafka section, to fleet.Config.
func (c *Config) fleetConfig(log *slog.Logger) (fleet.Config, error) {
	opts, err := kgoSecurity(c.writerConfig(nil).Security)
	if err != nil {
		return fleet.Config{}, err
	}
	f := c.Fleet
	return fleet.Config{
		Brokers: c.Kafka.Brokers, Group: f.Group, RegistryTopic: f.RegistryTopic, StatusTopic: f.StatusTopic,
		InstanceID: f.InstanceID, SessionTimeout: f.SessionTimeout, HeartbeatInterval: f.HeartbeatInterval,
		Advertise: f.Advertise, ClientOpts: opts, Logger: log,
	}, nil
}

// kgoSecurity returns the franz-go options of the kafka section's TLS and
// SASL, for the fleet's clients.
func kgoSecurity(s sink.Security) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	t, err := s.TLSConfig()
	if err != nil {
		return nil, err
	}
	if t != nil {
		opts = append(opts, kgo.DialTLSConfig(t))
	}
	switch s.SASL {
	case "":
	case sink.SASLPlain:
		opts = append(opts, kgo.SASL(plain.Auth{User: s.Username, Pass: s.Password}.AsMechanism()))
	case sink.SASLScramSHA256:
		opts = append(opts, kgo.SASL(scram.Auth{User: s.Username, Pass: s.Password}.AsSha256Mechanism()))
	case sink.SASLScramSHA512:
		opts = append(opts, kgo.SASL(scram.Auth{User: s.Username, Pass: s.Password}.AsSha512Mechanism()))
	default:
		return nil, fmt.Errorf("kafka.sasl.mechanism %q is not plain, scram-sha-256 or scram-sha-512", s.SASL)
	}
	return opts, nil
}

// registryStreams returns the streams list of c as the registry holds it:
// without credentials, which every instance takes from its own
// environment (EARSHOT_STREAM_<ID>_USER and _PASSWORD). A URL whose
// credentials are written in the file is refused: the registry would keep
// them in Kafka in clear text.
func registryStreams(c *Config, getenv func(string) string) ([]ingest.StreamConfig, error) {
	out := make([]ingest.StreamConfig, 0, len(c.Streams))
	for _, s := range c.Streams {
		sc := ingest.StreamConfig(s)
		u, err := url.Parse(sc.URL)
		if err == nil && u.User != nil {
			key := "EARSHOT_STREAM_" + envKey(s.ID)
			if getenv(key+"_USER") == "" && getenv(key+"_PASSWORD") == "" {
				return nil, fmt.Errorf("stream %q: %w", s.ID, fleet.ErrCredentials)
			}
			u.User = nil // set from the environment by applyEnv
			sc.URL = u.String()
		}
		out = append(out, sc)
	}
	return out, nil
}

// withCredentials returns sc with the credentials of its environment
// variables, if any, in its URL.
func withCredentials(sc ingest.StreamConfig, getenv func(string) string) (ingest.StreamConfig, error) {
	c := Config{Streams: []StreamConfig{StreamConfig(sc)}}
	if err := c.applyEnv(getenv); err != nil {
		return sc, err
	}
	return ingest.StreamConfig(c.Streams[0]), nil
}

// defaultAdvertise is the admin URL of a listener bound to addr: "" when
// it listens on every interface, which names no address to reach it at.
func defaultAdvertise(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || ip.IsUnspecified() {
		return ""
	}
	return "http://" + addr
}

// supervisorRunner runs the streams a fleet member owns on the supervisor,
// with credentials from the environment.
type supervisorRunner struct {
	sup    *ingest.Supervisor
	getenv func(string) string
}

func (r supervisorRunner) Start(sc ingest.StreamConfig) error {
	sc, err := withCredentials(sc, r.getenv)
	if err != nil {
		return err
	}
	return r.sup.Add(context.Background(), sc)
}

// Stop ends the stream with reason removed for a registry removal, moved
// otherwise (revoked, lost, fenced, leaving).
func (r supervisorRunner) Stop(ctx context.Context, id string, why fleet.StopReason) error {
	if why == fleet.Removed {
		return r.sup.Remove(ctx, id)
	}
	return r.sup.Move(ctx, id)
}

// fleetMember returns the member of c's fleet running streams on sup, nil
// when fleet mode is off. Without fleet.advertise it advertises the admin
// listener's address, if that names one host.
func fleetMember(c *Config, sup *ingest.Supervisor, admin *adminServer, log *slog.Logger) (*fleet.Member, error) {
	if !c.Fleet.on() {
		return nil, nil
	}
	fc, err := c.fleetConfig(log)
	if err != nil {
		return nil, err
	}
	if fc.Advertise == "" && admin != nil {
		fc.Advertise = defaultAdvertise(admin.Addr())
	}
	return fleet.NewMember(fc, supervisorRunner{sup: sup, getenv: os.Getenv})
}

// runFleet runs the supervisor and the fleet member until ctx is done: the
// member stops its streams (end reason moved) and leaves the group first,
// then the supervisor stops. The streams list of the file is upserted into
// the registry once the member has opened it.
func (s *service) runFleet(ctx context.Context) error {
	supCtx, stopSup := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSup()
	var memberErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer stopSup()
		memberErr = s.member.Run(ctx)
	}()
	if len(s.streams) > 0 {
		go s.upsertWhenOpen(ctx, done)
	}
	err := s.sup.Run(supCtx)
	<-done
	if memberErr != nil {
		return fmt.Errorf("%w: %w", errFleet, memberErr)
	}
	return err
}

// errFleet: fleet mode cannot start (topics missing or not compacted,
// partition count changed): a configuration error.
var errFleet = errors.New("fleet cannot start")

// upsertWhenOpen writes the file's streams to the registry once the member
// has opened it, or gives up when done closes.
func (s *service) upsertWhenOpen(ctx context.Context, done <-chan struct{}) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for s.member.Registry() == nil {
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
	n := 0
	for _, sc := range s.streams {
		if err := s.member.Registry().Put(ctx, sc); err != nil {
			s.log.Error("fleet: stream not written to the registry", "stream", sc.ID, "err", err)
			continue
		}
		n++
	}
	s.log.Info("fleet: streams of the configuration written to the registry", "streams", n)
}

// upsert writes the streams of c to the registry (SIGHUP in fleet mode):
// the registry is the truth; streams missing from the file stay.
func (s *service) upsert(ctx context.Context, c *Config) (ingest.Changes, error) {
	reg := s.member.Registry()
	if reg == nil {
		return ingest.Changes{}, errors.New("fleet registry not open yet")
	}
	streams, err := registryStreams(c, os.Getenv)
	if err != nil {
		return ingest.Changes{}, err
	}
	var ch ingest.Changes
	var errs []error
	for _, sc := range streams {
		if err := reg.Put(ctx, sc); err != nil {
			errs = append(errs, err)
			continue
		}
		ch.Added = append(ch.Added, sc.ID) // upserted: the owner decides what changed
	}
	return ch, errors.Join(errs...)
}

// watchFleet adds the fleet metrics of m; call it after watch, before the
// first scrape.
func (t *telemetry) watchFleet(m *fleet.Member) { t.member = m }

// collectFleet emits the fleet metrics of one member's stats.
func collectFleet(ch chan<- prometheus.Metric, st fleet.Stats) {
	metricFleetMembers.emit(ch, float64(st.Members))
	metricFleetPartitions.emit(ch, float64(st.Partitions))
	metricFleetRebalances.emit(ch, float64(st.Rebalances))
	metricFleetMoved.emit(ch, float64(st.StreamsMoved))
	metricFleetFenced.emit(ch, bool01(st.Fenced))
	metricFleetFences.emit(ch, float64(st.Fences))
}

// fleetReady says why a fleet instance is not ready, nil when it is: it
// has loaded its partitions of the registry and is not fenced.
func fleetReady(st fleet.Stats) error {
	switch {
	case st.Fenced:
		return errors.New("fleet: fenced (no heartbeat completed)")
	case !st.Loaded || st.LastHeartbeatAt.IsZero() || st.Rebalances == 0:
		return errors.New("fleet: not in the group yet, or its registry partitions not loaded")
	}
	return nil
}
