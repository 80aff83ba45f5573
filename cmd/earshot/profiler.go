package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/grafana/pyroscope-go"
)

// ProfilingConfig configures continuous profiling: earshot pushes CPU,
// allocation, in-use memory, goroutine, mutex and block profiles to a
// Pyroscope server. CPU samples carry the pprof labels stream (the stream
// id) and stage (sdk_reader, sdk_callback, decode, sink), so a flame graph
// can be filtered on one stream or stage.
type ProfilingConfig struct {
	// ServerAddress is the Pyroscope server, http(s)://host:port. Default
	// "": profiling is off.
	ServerAddress   string            `yaml:"server_address"`
	ApplicationName string            `yaml:"application_name"` // default earshot
	Tags            map[string]string `yaml:"tags"`             // added to every profile; default none
	// Basic auth (both or neither), or a tenant id (X-Scope-OrgID) for a
	// multi-tenant server. env EARSHOT_PROFILING_BASIC_AUTH_PASSWORD
	// overrides the password.
	BasicAuthUser     string `yaml:"basic_auth_user"`
	BasicAuthPassword string `yaml:"basic_auth_password"`
	TenantID          string `yaml:"tenant_id"`
	// UploadRate is how often profiles are cut and uploaded; default 15s,
	// at least 1s.
	UploadRate time.Duration `yaml:"upload_rate"`
	// MutexProfileFraction samples 1 in this many mutex contention events;
	// default 100, -1 turns mutex profiles off.
	MutexProfileFraction int `yaml:"mutex_profile_fraction"`
	// BlockProfileRate samples one blocking event per this much time spent
	// blocked (longer events always); default 10ms, a negative value turns
	// block profiles off.
	BlockProfileRate time.Duration `yaml:"block_profile_rate"`
}

// Profiling defaults.
const (
	defaultApplicationName      = "earshot"
	defaultUploadRate           = 15 * time.Second
	defaultMutexProfileFraction = 100
	defaultBlockProfileRate     = 10 * time.Millisecond
)

// Pyroscope's label and service name characters.
var (
	tagKeyPattern  = regexp.MustCompile(`^[A-Za-z0-9_.]+$`)
	appNamePattern = regexp.MustCompile(`^[A-Za-z0-9_./-]+$`)
)

// validate names every problem of c.
func (c ProfilingConfig) validate() error {
	if c.ServerAddress == "" {
		return nil
	}
	var errs []error
	switch u, err := url.Parse(c.ServerAddress); {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		errs = append(errs, errors.New("profiling.server_address is not an http(s)://host:port URL"))
	case u.User != nil:
		errs = append(errs, errors.New("profiling.server_address holds credentials: use basic_auth_user and basic_auth_password"))
	}
	if n := c.ApplicationName; n != "" && !appNamePattern.MatchString(n) {
		errs = append(errs, fmt.Errorf("profiling.application_name %q must match %s", n, appNamePattern))
	}
	for k, v := range c.Tags {
		if !tagKeyPattern.MatchString(k) || strings.ContainsAny(v, "{},=") {
			errs = append(errs, fmt.Errorf("profiling.tags: %q: keys must match %s, values hold none of {},=", k, tagKeyPattern))
		}
	}
	if (c.BasicAuthUser == "") != (c.BasicAuthPassword == "") {
		errs = append(errs, errors.New("profiling: basic_auth_user and basic_auth_password go together"))
	}
	if c.UploadRate != 0 && c.UploadRate < time.Second {
		errs = append(errs, fmt.Errorf("profiling.upload_rate %s is below 1s", c.UploadRate))
	}
	return errors.Join(errs...)
}

// profiler pushes profiles to Pyroscope between Start and Stop, and sets
// the runtime's mutex and block profile rates meanwhile (they are
// process-wide, and pyroscope-go leaves them alone).
type profiler struct {
	cfg           pyroscope.Config
	mutexFraction int
	blockRate     int // nanoseconds
	transport     *http.Transport
	log           *slog.Logger

	p         *pyroscope.Profiler
	prevMutex int
}

// newProfiler returns nil when profiling is off. c must be valid.
func newProfiler(c ProfilingConfig, log *slog.Logger) *profiler {
	if c.ServerAddress == "" {
		return nil
	}
	p := &profiler{
		mutexFraction: cmp.Or(c.MutexProfileFraction, defaultMutexProfileFraction),
		blockRate:     int(cmp.Or(c.BlockProfileRate, defaultBlockProfileRate)),
		transport:     &http.Transport{MaxConnsPerHost: 5, IdleConnTimeout: time.Minute},
		log:           log,
	}
	types := []pyroscope.ProfileType{
		pyroscope.ProfileCPU, pyroscope.ProfileAllocObjects, pyroscope.ProfileAllocSpace,
		pyroscope.ProfileInuseObjects, pyroscope.ProfileInuseSpace, pyroscope.ProfileGoroutines,
	}
	if p.mutexFraction > 0 {
		types = append(types, pyroscope.ProfileMutexCount, pyroscope.ProfileMutexDuration)
	}
	if p.blockRate > 0 {
		types = append(types, pyroscope.ProfileBlockCount, pyroscope.ProfileBlockDuration)
	}
	p.cfg = pyroscope.Config{
		ApplicationName:   cmp.Or(c.ApplicationName, defaultApplicationName),
		ServerAddress:     c.ServerAddress,
		Tags:              c.Tags,
		BasicAuthUser:     c.BasicAuthUser,
		BasicAuthPassword: c.BasicAuthPassword,
		TenantID:          c.TenantID,
		UploadRate:        cmp.Or(c.UploadRate, defaultUploadRate),
		ProfileTypes:      types,
		Logger:            &pyroscopeLogger{log: log},
		HTTPClient:        &http.Client{Transport: p.transport, Timeout: 30 * time.Second},
	}
	return p
}

// Start sets the mutex and block profile rates and starts pushing.
func (p *profiler) Start() error {
	p.prevMutex = runtime.SetMutexProfileFraction(max(p.mutexFraction, 0))
	runtime.SetBlockProfileRate(max(p.blockRate, 0))
	pp, err := pyroscope.Start(p.cfg)
	if err != nil {
		p.resetRates()
		return fmt.Errorf("profiling: %w", err)
	}
	p.p = pp
	p.log.Info("continuous profiling on", "server", redactURL(p.cfg.ServerAddress), "application", p.cfg.ApplicationName,
		"upload_rate", p.cfg.UploadRate, "mutex_profile_fraction", p.mutexFraction, "block_profile_rate", time.Duration(p.blockRate))
	return nil
}

// Stop uploads what was profiled since the last upload and stops.
func (p *profiler) Stop() {
	if p.p == nil {
		return
	}
	p.p.Stop()
	p.p = nil
	p.transport.CloseIdleConnections()
	p.resetRates()
}

func (p *profiler) resetRates() {
	runtime.SetMutexProfileFraction(p.prevMutex)
	runtime.SetBlockProfileRate(0)
}

// redactURL hides a URL's password, if any.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable)"
	}
	return u.Redacted()
}

// pyroscopeErrorEvery bounds pyroscope-go's error lines (one per profile
// type and upload while the server is unreachable) to one per period,
// with a count of those suppressed.
const pyroscopeErrorEvery = time.Minute

// pyroscopeLogger routes pyroscope-go's log lines to slog: its chatter at
// debug, its errors as warnings, rate-limited.
type pyroscopeLogger struct {
	log *slog.Logger

	mu         sync.Mutex
	lastError  time.Time
	suppressed int
}

func (l *pyroscopeLogger) Infof(format string, args ...any) { l.debugf(format, args...) }

func (l *pyroscopeLogger) Debugf(format string, args ...any) { l.debugf(format, args...) }

func (l *pyroscopeLogger) debugf(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug("pyroscope: " + fmt.Sprintf(format, args...))
	}
}

func (l *pyroscopeLogger) Errorf(format string, args ...any) {
	l.mu.Lock()
	now := time.Now()
	if now.Sub(l.lastError) < pyroscopeErrorEvery {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	n := l.suppressed
	l.lastError, l.suppressed = now, 0
	l.mu.Unlock()
	l.log.Warn("profiling: "+fmt.Sprintf(format, args...), "suppressed_since_last", n)
}
