package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"

	"github.com/earshot/earshot/ingest"
	"github.com/earshot/earshot/loadtest"
	"github.com/earshot/earshot/loadtest/loadtesttest"
	"github.com/earshot/earshot/loadtest/testkit"
	"github.com/earshot/earshot/sink"
)

// consoleToken is the admin token of the console test.
const consoleToken = "console-test-token"

// TestConsoleInChromium drives the console in headless Chromium against a
// running earshot: a camera playing a −20 dBFS tone, one sending digital
// silence and one speaking. It fails, not skips, without Chromium.
func TestConsoleInChromium(t *testing.T) {
	browser := newBrowser(t)

	specs := []loadtest.StreamSpec{
		{Name: "tone", Codec: "l16", Signal: loadtest.SignalTone},
		{Name: "muted", Codec: "pcmu", Signal: loadtest.SignalSilence},
		{Name: "speech", Codec: "opus"},
	}
	cams := loadtesttest.NewServer(t, loadtest.ServerConfig{Streams: specs})
	broker, stopBroker, err := sink.StartEmbeddedBroker("console", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer stopBroker()
	cfg := &Config{
		Kafka:  KafkaConfig{Brokers: []string{broker}, Topic: "console"},
		Spool:  SpoolConfig{Dir: t.TempDir()},
		Admin:  AdminConfig{Listen: "127.0.0.1:0", Token: consoleToken},
		Diag:   DiagConfig{Dir: t.TempDir()},
		Ingest: IngestConfig{SilenceTimeout: 2 * time.Second},
	}
	for _, s := range specs {
		cfg.Streams = append(cfg.Streams, StreamConfig{ID: s.Name, URL: "rtsp://" + cams.Addr() + "/" + s.Name, Transport: "tcp"})
	}
	svc, _, stop := runService(t, cfg)
	defer stop()
	base := "http://" + svc.AdminAddr()
	sc := newScraper(t, base, consoleToken)
	defer func() {
		if t.Failed() { // what the page showed, for the failure's reader
			t.Logf("page text: %s", eval[string](t, browser, `document.body.innerText`))
			saveScreenshot(t, browser, "console-failed.png")
		}
	}()

	// Without the token: nothing but the prompt, and no WebSocket.
	do(t, browser, "open the console without a token",
		chromedp.Navigate(base+"/console"),
		chromedp.WaitVisible(chromedp.ID("login")),
	)
	appHidden := eval[bool](t, browser, `document.getElementById('app').hidden`)
	body := eval[string](t, browser, `document.body.innerText`)
	if !appHidden || strings.Contains(body, "tone") || !strings.Contains(body, "Admin token") {
		t.Errorf("without a token the page shows %q (app hidden %t); want only the token prompt", body, appHidden)
	}
	wsResult := eval[string](t, browser, `new Promise((ok) => {
		const ws = new WebSocket('ws://' + location.host + '/console/ws/levels', ['earshot.v1']);
		ws.onopen = () => ok('open');
		ws.onclose = (e) => ok('closed ' + e.code);
	})`, chromedp.EvalAwaitPromise)
	if wsResult == "open" {
		t.Error("the browser opened a levels WebSocket without a ticket")
	}
	checkSocketRefused(t, svc.AdminAddr(), "tone")
	if code := sc.status("/console/api/streams", false); code != http.StatusUnauthorized {
		t.Errorf("/console/api/streams without the token: %d, want 401", code)
	}

	// With the token: the table, levels as text, the silent badge.
	do(t, browser, "log in",
		chromedp.SendKeys(chromedp.ID("token"), consoleToken),
		chromedp.Click(chromedp.CSS(`#login button`)),
		chromedp.WaitVisible(chromedp.ID("app")),
	)
	for _, s := range specs {
		do(t, browser, "row of "+s.Name, chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`.row[data-id=%q]`, s.Name))))
	}
	toneDB := checkToneRow(t, browser, "tone")
	states := eval[string](t, browser, `[...document.querySelectorAll('#rows .row')].map(r => r.dataset.id + ':' + r.children[2].firstChild.textContent).join(' ')`)
	for _, s := range specs {
		if !strings.Contains(states, s.Name+":streaming") {
			t.Errorf("rows show %q; want %s streaming", states, s.Name)
		}
	}
	do(t, browser, "the silent badge on the muted camera",
		chromedp.WaitVisible(chromedp.CSS(`.row[data-id="muted"] .badge.silent`)))
	m := sc.await("silent_audio stall", func(m metricSet) bool {
		return m.value("earshot_stalls_total", "stage", ingest.StageSource, "reason", ingest.ReasonSilentAudio) == 1
	})
	if v := m.value("earshot_stream_level_dbfs", "stream", "tone"); math.Abs(v-loadtest.ToneDBFS) > 1 {
		t.Errorf("earshot_stream_level_dbfs{stream=tone} = %g", v)
	}
	do(t, browser, "select the muted camera", chromedp.Click(chromedp.CSS(`.row[data-id="muted"] .c-id`)))
	poll[string](t, browser, "the muted camera's timeline",
		`(() => { const t = document.getElementById('events').innerText; return t.includes('silent_audio') ? t : null })()`)

	// Listen-in: the worklet plays the tone at its level, in time.
	do(t, browser, "listen to the tone", chromedp.Click(chromedp.CSS(`.row[data-id="tone"] .listen`)))
	checkListenIn(t, browser, "tone", toneDB)

	// A burst of 0.5 s at once: the jitter buffer drops to catch up.
	eval[bool](t, browser, `earshotConsole.state.players.get('tone').node.port.postMessage({pcm: new Int16Array(8000), transitMs: 0}) || true`)
	poll[bool](t, browser, "the jitter buffer back under 300 ms", `(() => { const s = earshotConsole.playerStats('tone'); return s.droppedMs > 0 && s.bufferedMs <= 300 })()`)

	// A second stream plays alongside; stopping both releases them.
	do(t, browser, "listen to the speech too", chromedp.Click(chromedp.CSS(`.row[data-id="speech"] .listen`)))
	poll[bool](t, browser, "speech playing", `(() => { const s = earshotConsole.playerStats('speech'); return !!s && s.frames >= 25 && !!earshotConsole.playerStats('tone') })()`)
	if n := listeners(t, sc, "tone") + listeners(t, sc, "speech"); n != 2 {
		t.Errorf("%d listeners on the server while two streams play, want 2", n)
	}
	saveScreenshot(t, browser, "console.png")
	do(t, browser, "stop both",
		chromedp.Click(chromedp.CSS(`.row[data-id="tone"] .listen`)),
		chromedp.Click(chromedp.CSS(`.row[data-id="speech"] .listen`)))
	if !testkit.Poll(10*time.Second, func() bool { return listeners(t, sc, "tone")+listeners(t, sc, "speech") == 0 }) {
		t.Error("listeners left on the server after the page stopped listening")
	}
}

// playerStats are what the page's player of a stream reports.
type playerStats struct {
	ContextState string   `json:"contextState"`
	Frames       int      `json:"frames"`
	LevelDBFS    *float64 `json:"levelDbfs"`
	LatencyMS    *float64 `json:"latencyMs"`
	BufferedMS   float64  `json:"bufferedMs"`
	Underruns    int      `json:"underruns"`
}

// checkListenIn waits until the page has played 2 s of stream id and
// checks that its AudioContext runs, the worklet hears the source's level
// (sourceDB) within 2 dB, and the latency is at most 400 ms.
func checkListenIn(t *testing.T, browser context.Context, id string, sourceDB float64) {
	t.Helper()
	// 100 frames of 20 ms: 2 s of audio through the jitter buffer.
	stats := poll[playerStats](t, browser, "listen-in statistics of "+id,
		fmt.Sprintf(`(() => { const s = earshotConsole.playerStats(%q); return s && s.frames >= 100 && s.levelDbfs !== null && s.latencyMs !== null ? s : null })()`, id))
	t.Logf("listen-in %s: context %s, %d frames, level %.2f dBFS, latency %.0f ms, buffer %.0f ms, %d underruns",
		id, stats.ContextState, stats.Frames, *stats.LevelDBFS, *stats.LatencyMS, stats.BufferedMS, stats.Underruns)
	if stats.ContextState != "running" {
		t.Errorf("AudioContext is %s, want running", stats.ContextState)
	}
	if math.Abs(*stats.LevelDBFS-sourceDB) > 2 {
		t.Errorf("the worklet hears %.2f dBFS of %s, the server measures %.1f: want within 2 dB", *stats.LevelDBFS, id, sourceDB)
	}
	if *stats.LatencyMS > 400 || *stats.LatencyMS <= 0 {
		t.Errorf("latency %.0f ms, want 0..400", *stats.LatencyMS)
	}
}

// listeners reads a stream's listener count from the API.
func listeners(t *testing.T, sc *scraper, id string) int {
	t.Helper()
	var st ingest.StreamStats
	if err := json.Unmarshal([]byte(sc.get("/api/streams/"+id, true)), &st); err != nil {
		t.Fatal(err)
	}
	return st.Listeners
}

// newBrowser starts headless Chromium for the test and stops it when the
// test ends. A missing Chromium fails the test: `make deps` installs it.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed (make deps installs it): %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.NoSandbox, // tests may run as root, in containers
		chromedp.WindowSize(1400, 800),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// browserTimeout bounds each step in the browser.
const browserTimeout = 30 * time.Second

// do runs actions, failing the test with what it did.
func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, browserTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string, opts ...chromedp.EvaluateOption) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, browserTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// poll waits until expr is truthy and returns its value.
func poll[T any](t *testing.T, ctx context.Context, what, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Poll[T](expr, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(browserTimeout)))
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
	return v
}

// checkToneRow waits for a level as text on stream id's row, checks that
// it reads the synthetic tone's level within 2 dB, and returns it.
func checkToneRow(t *testing.T, browser context.Context, id string) float64 {
	t.Helper()
	text := poll[string](t, browser, "a level on the row of "+id,
		fmt.Sprintf(`(() => { const e = document.querySelector('.row[data-id=%q] .leveltext'); return e && e.dataset.rms ? e.textContent : null })()`, id))
	db := parseDBFS(t, text)
	if math.Abs(db-loadtest.ToneDBFS) > 2 {
		t.Errorf("%s shows %q, want %d ± 2 dBFS", id, text, loadtest.ToneDBFS)
	}
	return db
}

// parseDBFS reads "−20.1 dBFS".
func parseDBFS(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.ReplaceAll(s, "\u2212", "-"), " dBFS"), 64)
	if err != nil {
		t.Fatalf("level text %q: %v", s, err)
	}
	return v
}

// checkSocketRefused dials the WebSockets (listen-in to stream id) without
// a ticket, with a wrong one, and with the token instead of a ticket.
func checkSocketRefused(t *testing.T, addr, id string) {
	t.Helper()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	for _, protos := range [][]string{{wsProtocol}, {wsProtocol, ticketPrefix + "0123"}, {wsProtocol, ticketPrefix + consoleToken}} {
		for _, path := range []string{"/console/ws/levels", "/console/ws/listen/" + id} {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			c, res, err := websocket.Dial(ctx, "ws://"+addr+path, &websocket.DialOptions{Subprotocols: protos, HTTPClient: &http.Client{Transport: tr}})
			cancel()
			if err == nil {
				c.CloseNow()
				t.Errorf("%s with %v: connected, want refused", path, protos)
				continue
			}
			if res == nil || res.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s with %v: %v, want 401", path, protos, err)
			}
		}
	}
}

// saveScreenshot writes the page to $TEST_ARTIFACTS, or to the test's
// temporary folder.
func saveScreenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("TEST_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	sctx, cancel := context.WithTimeout(ctx, browserTimeout)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
}

// fleetSource is a console source of n streams that exist only in
// memory: the browser's side of a 2,000-camera site, without pulling
// 2,000 cameras on a test machine. It records which streams' levels were
// asked for.
type fleetSource struct {
	n     int
	mu    sync.Mutex
	asked map[string]bool
}

func fleetID(i int) string { return fmt.Sprintf("cam-%04d", i) }

// fleetStates are the states of the fleet's streams, in turn.
var fleetStates = []ingest.State{ingest.StateStreaming, ingest.StateStreaming, ingest.StateStreaming, ingest.StateBackoff, ingest.StateError}

func (f *fleetSource) Stats() []ingest.StreamStats {
	out := make([]ingest.StreamStats, f.n)
	for i := range out {
		out[i] = ingest.StreamStats{ID: fleetID(i), State: fleetStates[i%len(fleetStates)], StateSince: time.Now().Add(-time.Duration(i) * time.Second), Codec: "opus", GapsLastHour: i % 7}
	}
	return out
}

func (f *fleetSource) Events(string) ([]ingest.Event, error) { return nil, nil }

func (f *fleetSource) Level(id string) (ingest.Level, bool, bool) {
	f.mu.Lock()
	f.asked[id] = true
	f.mu.Unlock()
	var i int
	fmt.Sscanf(id, "cam-%d", &i)
	return ingest.Level{RMS: -30, Peak: -20, At: time.Now()}, false, fleetStates[i%len(fleetStates)] == ingest.StateStreaming
}

func (f *fleetSource) Listen(id string) (*ingest.Listener, error) {
	return nil, fmt.Errorf("%w: %q", ingest.ErrUnknownStream, id)
}

func (f *fleetSource) askedIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.asked))
}

// TestConsoleRendersTwoThousandStreams: with 2,000 streams the page keeps
// a screenful of rows in the DOM, asks for the levels of those only, and
// scrolls, filters and sorts the whole list.
func TestConsoleRendersTwoThousandStreams(t *testing.T) {
	browser := newBrowser(t)
	src := &fleetSource{n: 2000, asked: make(map[string]bool)}
	con := newConsole("", src, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(con.Handler())
	defer srv.Close()
	defer con.Close()

	do(t, browser, "open the console", chromedp.Navigate(srv.URL+"/console"), chromedp.WaitVisible(chromedp.CSS(`.row[data-id="cam-0000"]`)))
	poll[string](t, browser, "levels on screen", `document.querySelector('.row[data-id="cam-0000"] .leveltext').dataset.rms`)
	rows := eval[int](t, browser, `document.querySelectorAll('#rows .row').length`)
	onScreen := eval[int](t, browser, `Math.ceil(document.getElementById('viewport').clientHeight / 28)`)
	if rows > onScreen+21 || rows < onScreen {
		t.Errorf("%d rows in the DOM for %d on screen: want the screenful and 10 more each side at most", rows, onScreen)
	}
	if asked := src.askedIDs(); len(asked) > onScreen+2 || asked[len(asked)-1] > fleetID(onScreen+1) {
		t.Errorf("levels asked for %d streams up to %s, with %d on screen", len(asked), asked[len(asked)-1], onScreen)
	}
	// At least 4 level updates a second (the server sends 5).
	rate := eval[float64](t, browser, `new Promise((ok) => {
		const st = earshotConsole.state, n0 = st.levelMessages, t0 = performance.now();
		const check = () => st.levelMessages - n0 >= 10 ? ok(10000 / (performance.now() - t0)) : setTimeout(check, 20);
		check();
	})`, chromedp.EvalAwaitPromise)
	t.Logf("levels: %.1f updates a second", rate)
	if rate < 4 {
		t.Errorf("levels arrive %.1f times a second, want at least 4", rate)
	}
	if s := eval[string](t, browser, `document.getElementById('summary').textContent`); !strings.HasPrefix(s, "2000 streams") {
		t.Errorf("summary %q", s)
	}

	eval[int](t, browser, `document.getElementById('viewport').scrollTop = 1e9`)
	do(t, browser, "scroll to the last stream", chromedp.WaitVisible(chromedp.CSS(`.row[data-id="cam-1999"]`)))
	// cam-1999 is in error, which shows no level; cam-1997 streams.
	poll[string](t, browser, "a level at the end of the list", `document.querySelector('.row[data-id="cam-1997"] .leveltext').dataset.rms`)
	if txt := eval[string](t, browser, `document.querySelector('.row[data-id="cam-1999"] .leveltext').textContent`); txt != "\u2014" {
		t.Errorf("a stream in error shows level %q, want none", txt)
	}
	if rows := eval[int](t, browser, `document.querySelectorAll('#rows .row').length`); rows > onScreen+21 {
		t.Errorf("%d rows in the DOM after scrolling", rows)
	}

	do(t, browser, "filter", chromedp.SendKeys(chromedp.ID("filter"), "cam-1234"))
	poll[bool](t, browser, "one row", `document.querySelectorAll('#rows .row').length === 1 && document.querySelector('#rows .row').dataset.id === 'cam-1234'`)
	eval[string](t, browser, `(() => { const f = document.getElementById('filter'); f.value = ''; f.dispatchEvent(new Event('input')); return '' })()`)
	do(t, browser, "sort by id, descending", chromedp.Click(chromedp.CSS(`#head [data-sort="id"]`)))
	eval[int](t, browser, `document.getElementById('viewport').scrollTop = 0`)
	poll[bool](t, browser, "cam-1999 first", `document.querySelector('#rows .row').dataset.id === 'cam-1999'`)
	saveScreenshot(t, browser, "console-2000.png")
}

// consoleAccessCases: who gets what from the console, without a browser.
var consoleAccessCases = []struct {
	name   string
	token  string
	remote string
	method string
	path   string
	auth   string
	want   int
}{
	{"the page loads without the token, to ask for it", consoleToken, "192.0.2.1:5000", "GET", "/console", "", http.StatusOK},
	{"the stream list needs the token", consoleToken, "127.0.0.1:5000", "GET", "/console/api/streams", "", http.StatusUnauthorized},
	{"the stream list with the token", consoleToken, "192.0.2.1:5000", "GET", "/console/api/streams", "Bearer " + consoleToken, http.StatusOK},
	{"a ticket needs the token", consoleToken, "127.0.0.1:5000", "POST", "/console/api/ticket", "Bearer nope", http.StatusUnauthorized},
	{"a ticket with the token", consoleToken, "127.0.0.1:5000", "POST", "/console/api/ticket", "Bearer " + consoleToken, http.StatusOK},
	{"without a token, loopback clients get the list", "", "127.0.0.1:5000", "GET", "/console/api/streams", "", http.StatusOK},
	{"without a token, other clients get nothing", "", "192.0.2.1:5000", "GET", "/console", "", http.StatusForbidden},
	{"a WebSocket without a ticket is refused", "", "127.0.0.1:5000", "GET", "/console/ws/levels", "", http.StatusUnauthorized},
	{"listen-in without a ticket does not say which streams exist", "", "127.0.0.1:5000", "GET", "/console/ws/listen/nope", "", http.StatusUnauthorized},
	{"a script is served", "", "127.0.0.1:5000", "GET", "/console/static/app.js", "", http.StatusOK},
}

func TestConsoleAccess(t *testing.T) {
	for _, c := range consoleAccessCases {
		t.Run(c.name, func(t *testing.T) {
			con := newConsole(c.token, &fleetSource{n: 3, asked: make(map[string]bool)}, slog.New(slog.DiscardHandler))
			defer con.Close()
			req := httptest.NewRequest(c.method, c.path, nil)
			req.RemoteAddr = c.remote
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			rec := httptest.NewRecorder()
			con.Handler().ServeHTTP(rec, req)
			if rec.Code != c.want {
				t.Errorf("%s %s: %d, want %d", c.method, c.path, rec.Code, c.want)
			}
			if csp := rec.Header().Get("Content-Security-Policy"); csp != consoleCSP {
				t.Errorf("CSP %q", csp)
			}
			if c.token != "" && strings.Contains(rec.Body.String(), c.token) {
				t.Error("the token is in the response")
			}
		})
	}
}

func TestTicketsAreShortLivedAndSingleUse(t *testing.T) {
	var tk tickets
	tk.m = make(map[string]time.Time)
	now := time.Unix(1000, 0)
	a, err := tk.issue(now)
	if err != nil {
		t.Fatal(err)
	}
	if !tk.redeem(a, now.Add(ticketTTL)) || tk.redeem(a, now) {
		t.Error("a ticket must open exactly one socket")
	}
	b, _ := tk.issue(now)
	if tk.redeem(b, now.Add(ticketTTL+time.Millisecond)) {
		t.Error("an expired ticket opened a socket")
	}
	for range maxTickets {
		if _, err := tk.issue(now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tk.issue(now); !errors.Is(err, errTooManyTickets) {
		t.Errorf("ticket %d: %v, want errTooManyTickets", maxTickets+1, err)
	}
	if _, err := tk.issue(now.Add(2 * ticketTTL)); err != nil {
		t.Errorf("expired tickets are not pruned: %v", err)
	}
}
