package main

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/loadtest"
	"github.com/earshot/earshot/loadtest/loadtesttest"
	"github.com/earshot/earshot/sink"
)

// upload is one profile received by fakePyroscope.
type upload struct {
	name, tenant, user, password string
	sampleTypes                  string // the sample_type_config part, if any
	prof                         *profile.Profile
}

// fakePyroscope accepts Pyroscope's ingest API (POST /ingest?name=…, a
// multipart form with the pprof profile) and keeps what it receives.
type fakePyroscope struct {
	*httptest.Server
	arrived chan struct{} // signalled after each upload
	mu      sync.Mutex
	uploads []upload
	errs    []string
}

func newFakePyroscope(t testing.TB) *fakePyroscope {
	f := &fakePyroscope{arrived: make(chan struct{}, 1)}
	f.Server = httptest.NewServer(http.HandlerFunc(f.ingest))
	t.Cleanup(f.Close)
	return f
}

func (f *fakePyroscope) ingest(w http.ResponseWriter, r *http.Request) {
	u, err := f.parse(r)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.errs = append(f.errs, err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.uploads = append(f.uploads, u)
	select {
	case f.arrived <- struct{}{}:
	default:
	}
}

func (f *fakePyroscope) parse(r *http.Request) (upload, error) {
	if r.Method != http.MethodPost || r.URL.Path != "/ingest" {
		return upload{}, io.ErrUnexpectedEOF
	}
	u := upload{name: r.URL.Query().Get("name"), tenant: r.Header.Get("X-Scope-OrgID")}
	u.user, u.password, _ = r.BasicAuth()
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		return u, err
	}
	u.sampleTypes = formFile(r.MultipartForm, "sample_type_config")
	p, err := profile.Parse(strings.NewReader(formFile(r.MultipartForm, "profile")))
	if err != nil {
		return u, err
	}
	u.prof = p
	return u, nil
}

func formFile(form *multipart.Form, name string) string {
	fhs := form.File[name]
	if len(fhs) == 0 {
		return ""
	}
	f, err := fhs[0].Open()
	if err != nil {
		return ""
	}
	defer f.Close()
	var b bytes.Buffer
	b.ReadFrom(f)
	return b.String()
}

func (f *fakePyroscope) received() ([]upload, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.uploads), slices.Clone(f.errs)
}

// profileKind names an upload: cpu, heap, goroutine, mutex or block.
func (u upload) kind() string {
	switch {
	case u.prof.PeriodType != nil && u.prof.PeriodType.Type == "cpu":
		return "cpu"
	case strings.Contains(u.sampleTypes, "mutex_count"):
		return "mutex"
	case strings.Contains(u.sampleTypes, "block_count"):
		return "block"
	case strings.Contains(u.sampleTypes, "goroutine"):
		return "goroutine"
	case strings.Contains(u.sampleTypes, "inuse_space"):
		return "heap"
	}
	return "other"
}

// labelledStages returns the stage labels of the CPU samples that carry
// both a stream and a stage label, and the stream ids they name.
func labelledStages(p *profile.Profile) (stages, streams map[string]bool) {
	stages, streams = map[string]bool{}, map[string]bool{}
	for _, s := range p.Sample {
		if len(s.Label["stream"]) == 1 && len(s.Label["stage"]) == 1 {
			stages[s.Label["stage"][0]] = true
			streams[s.Label["stream"][0]] = true
		}
	}
	return stages, streams
}

// TestProfilesCarryStreamAndStageLabels runs earshot with continuous
// profiling pointed at a fake Pyroscope: every profile type arrives, with
// the application name, tags, tenant and basic auth configured, and CPU
// samples carry the stream and stage labels of the work they caught.
func TestProfilesCarryStreamAndStageLabels(t *testing.T) {
	pyro := newFakePyroscope(t)
	var specs []loadtest.StreamSpec
	for i := range 8 {
		specs = append(specs, loadtest.StreamSpec{Name: "cam-" + string(rune('a'+i)), Codec: audio.CodecAACLATM})
	}
	cams := loadtesttest.NewServer(t, loadtest.ServerConfig{Streams: specs})
	broker, stopBroker, err := sink.StartEmbeddedBroker("prof", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer stopBroker()
	cfg := &Config{
		Kafka: KafkaConfig{Brokers: []string{broker}, Topic: "prof"},
		Spool: SpoolConfig{Dir: t.TempDir()},
		Admin: AdminConfig{Listen: "off"},
		Diag:  DiagConfig{Dir: "off"},
		Profiling: ProfilingConfig{
			ServerAddress: pyro.URL, ApplicationName: "earshot-test", Tags: map[string]string{"env": "test"},
			BasicAuthUser: "prof", BasicAuthPassword: "prof-secret", TenantID: "tenant-1", UploadRate: time.Second,
		},
	}
	for _, s := range specs {
		cfg.Streams = append(cfg.Streams, StreamConfig{ID: s.Name, URL: "rtsp://" + cams.Addr() + "/" + s.Name, Transport: "tcp"})
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	_, logs, stop := runService(t, cfg)

	// The streams' own work (AAC decoding and resampling 48 kHz stereo, RTP
	// reading, callbacks) is the labelled CPU: wait until every kind of
	// profile and CPU samples of the decode stage and of an SDK stage
	// arrived, for at most 30 s.
	stages, streams, kinds := map[string]bool{}, map[string]bool{}, map[string]bool{}
	done := func() bool {
		return stages["decode"] && (stages["sdk_callback"] || stages["sdk_reader"]) &&
			kinds["cpu"] && kinds["heap"] && kinds["goroutine"] && kinds["mutex"] && kinds["block"]
	}
	deadline := time.After(30 * time.Second)
wait:
	for seen := 0; !done(); {
		select {
		case <-deadline:
			break wait
		case <-pyro.arrived:
		}
		ups, _ := pyro.received()
		for _, u := range ups[seen:] {
			kinds[u.kind()] = true
			if u.kind() == "cpu" {
				st, ids := labelledStages(u.prof)
				mergeKeys(stages, st)
				mergeKeys(streams, ids)
			}
		}
		seen = len(ups)
	}
	stop()

	ups, errs := pyro.received()
	t.Logf("%d uploads of %v; CPU samples labelled with stages %v, streams %v", len(ups), keys(kinds), keys(stages), keys(streams))
	if len(errs) > 0 {
		t.Errorf("uploads the ingest API refused: %v", errs)
	}
	if !stages["decode"] || !(stages["sdk_callback"] || stages["sdk_reader"]) {
		t.Errorf("CPU samples with stream and stage labels cover stages %v; want decode and an sdk stage", keys(stages))
	}
	for id := range streams {
		if !slices.ContainsFunc(specs, func(s loadtest.StreamSpec) bool { return s.Name == id }) {
			t.Errorf("stream label %q is not a stream id", id)
		}
	}
	for _, u := range ups {
		if !strings.HasPrefix(u.name, "earshot-test{") || !strings.Contains(u.name, "env=test") || u.tenant != "tenant-1" ||
			u.user != "prof" || u.password != "prof-secret" {
			t.Errorf("upload %s named %q, tenant %q, user %q", u.kind(), u.name, u.tenant, u.user)
			break
		}
	}
	for _, k := range []string{"cpu", "heap", "goroutine", "mutex", "block"} {
		if !kinds[k] {
			t.Errorf("no %s profile uploaded (got %v)", k, keys(kinds))
		}
	}
	if strings.Contains(logs.String(), "prof-secret") {
		t.Error("logs contain the profiling password")
	}
}

func mergeKeys(dst, src map[string]bool) {
	for k := range src {
		dst[k] = true
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
