package ingest_test

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/ingest"
	"github.com/earshot/earshot/ingest/sdk"
	"github.com/earshot/earshot/loadtest"
	"github.com/earshot/earshot/loadtest/loadtesttest"
	"github.com/earshot/earshot/loadtest/testkit"
	"github.com/earshot/earshot/sink"
	"github.com/earshot/earshot/sink/schema"
)

// Timing of the fault tests: shorter than the defaults so that a case
// takes seconds; the assertions are relative to them.
const (
	faultLiveness      = 2 * time.Second
	faultTimeout       = time.Second
	faultReconnectMax  = time.Second
	faultPermanent     = 3 * time.Second
	faultChunk         = 20 * time.Millisecond
	faultDetectSlack   = time.Second     // detection within liveness + this
	faultRecoverWithin = 2 * time.Second // audio back this soon after the source recovers
)

// faultSecret is the camera's password: it must appear in no log, API
// answer, diagnostics bundle or record.
const faultSecret = "fault-pa55word"

// faultCases: one per fault kind of the synthetic camera. Each injects the
// fault into "cam" while "control" (another camera on the same server,
// pulled by the same SDK workers) keeps playing. The gap the fault must
// leave, the others it may, and whether its failure is permanent are the
// fault kind's loadtest.FaultExpectation, which the load test judges by
// too.
var faultCases = []struct {
	name  string
	fault loadtest.Fault // Stream is set to "cam"
	spec  loadtest.StreamSpec
	udp   bool // the stream is pulled over UDP (the server offers it)
	// stall is the reason the watchdog must report, within the liveness
	// timeout and faultDetectSlack; "" for none.
	stall string
	// failure is the failure kind the stream reports while the fault
	// lasts; "" for none.
	failure string
	// sameEpoch: the stream rides the fault out without reconnecting.
	sameEpoch bool
	// serverWide faults hit the control stream too.
	serverWide bool
	// maxAccepts, if set, bounds the connections the server accepts from
	// the fault's beginning until the failure is reported.
	maxAccepts uint64
}{
	// The SDK sets up the audio track only: what goes on is its RTCP.
	{name: "audio stopping while video goes on is rtcp_only", fault: loadtest.Fault{Kind: loadtest.FaultAudioStopVideo, Duration: 3 * time.Second},
		spec: loadtest.StreamSpec{Video: true}, stall: schema.ReasonRTCPOnly},
	{name: "audio stopping while RTCP goes on is rtcp_only", fault: loadtest.Fault{Kind: loadtest.FaultAudioStopRTCP, Duration: 3 * time.Second},
		stall: schema.ReasonRTCPOnly},
	{name: "a silent source that answers keepalives is no_rtp", fault: loadtest.Fault{Kind: loadtest.FaultSilent, Duration: 3 * time.Second},
		stall: schema.ReasonNoRTP},
	{name: "frozen timestamps are timestamps_frozen", fault: loadtest.Fault{Kind: loadtest.FaultTimestampsFrozen, Duration: 3 * time.Second},
		stall: schema.ReasonTimestampsFrozen},
	{name: "a TCP reset is a disconnection", fault: loadtest.Fault{Kind: loadtest.FaultTCPReset, Duration: time.Second}},
	{name: "a server restart disconnects every stream", fault: loadtest.Fault{Kind: loadtest.FaultServerRestart, Duration: time.Second},
		failure: sdk.FailUnreachable, serverWide: true},
	{name: "401 is a permanent unauthorized failure", fault: loadtest.Fault{Kind: loadtest.FaultUnauthorized, Duration: time.Second},
		failure: sdk.FailUnauthorized},
	{name: "404 is a permanent not_found failure", fault: loadtest.Fault{Kind: loadtest.FaultNotFound, Duration: time.Second},
		failure: sdk.FailNotFound},
	{name: "no audio track is a permanent failure", fault: loadtest.Fault{Kind: loadtest.FaultNoAudio, Duration: time.Second},
		failure: sdk.FailNoAudio},
	{name: "an unsupported codec is a permanent failure", fault: loadtest.Fault{Kind: loadtest.FaultUnsupportedCodec, Duration: time.Second},
		failure: sdk.FailUnsupportedCodec},
	// gortsplib skips what is not a frame and resynchronises.
	{name: "garbage on the interleaved channel is skipped", fault: loadtest.Fault{Kind: loadtest.FaultGarbage, Duration: time.Second},
		sameEpoch: true},
	{name: "UDP loss leaves rtp_loss gaps in the same epoch", fault: loadtest.Fault{Kind: loadtest.FaultUDPLoss, Duration: 2 * time.Second, Loss: 0.2},
		udp: true, sameEpoch: true},
	{name: "UDP reordering is undone without a gap", fault: loadtest.Fault{Kind: loadtest.FaultUDPReorder, Duration: 2 * time.Second, Reorder: 0.3},
		udp: true, sameEpoch: true},
	{name: "UDP jitter is absorbed without a gap", fault: loadtest.Fault{Kind: loadtest.FaultUDPJitter, Duration: 2 * time.Second, Jitter: 100 * time.Millisecond},
		udp: true, sameEpoch: true},
	// Nothing is lost: the timeline restarts at the jump, offsets go on.
	{name: "a timestamp jump loses nothing and keeps the epoch", fault: loadtest.Fault{Kind: loadtest.FaultTimestampJump, Jump: 30 * time.Second},
		sameEpoch: true},
	// gortsplib drops packets of a new SSRC: the SDK ends the session.
	{name: "an SSRC change is followed by reconnecting", fault: loadtest.Fault{Kind: loadtest.FaultSSRCChange}},
	{name: "an SDP change on reconnect is followed", fault: loadtest.Fault{Kind: loadtest.FaultSDPChange, Duration: 2 * time.Second}},
	{name: "a server that never answers DESCRIBE times out", fault: loadtest.Fault{Kind: loadtest.FaultSlowDescribe, Duration: 2 * time.Second},
		failure: sdk.FailTimeout},
	// The other host (127.0.0.2) is never contacted: checkNoSecretSent.
	{name: "a redirect to another host is a permanent redirect failure", fault: loadtest.Fault{Kind: loadtest.FaultRedirectOtherHost, Duration: time.Second},
		failure: sdk.FailRedirect},
	{name: "a redirect loop is given up after 3 redirects", fault: loadtest.Fault{Kind: loadtest.FaultRedirectLoop, Duration: time.Second},
		failure: sdk.FailRedirect, maxAccepts: 4},
}

func TestFaults(t *testing.T) {
	runFaults(t, ingest.BackendGortsplib, nil)
}

// runFaults runs faultCases with the cam stream on backend, but the cases
// skip names with the reason.
func runFaults(t *testing.T, backend string, skip map[string]string) {
	for _, c := range faultCases {
		t.Run(c.name, func(t *testing.T) {
			if why, ok := skip[c.name]; ok {
				t.Skip(why)
			}
			exp, ok := c.fault.Kind.Expectation()
			if !ok {
				t.Fatalf("no expectation for fault kind %s", c.fault.Kind)
			}
			// One at a time: the synthetic camera paces packets in real
			// time, and an overloaded host makes it skip some.
			spec := c.spec
			spec.Name, spec.Codec, spec.User, spec.Password = "cam", "pcma", "viewer", faultSecret
			srv := startFaultCameras(t, spec, c.udp)
			transport := "tcp"
			if c.udp {
				transport = "udp"
			}
			logs := &testkit.SyncBuffer{}
			stalls := make(chan ingest.Stall, 64)
			diag := t.TempDir()
			ms := newMemSink()
			cfg := faultConfig(srv.URLWithCredentials("cam"), transport, srv.URL("control"), logs)
			cfg.Streams[0].Backend = backend
			cfg.Diagnostics = ingest.DiagnosticsConfig{Dir: diag, MinInterval: time.Nanosecond}
			cfg.OnStall = func(s ingest.Stall) { stalls <- s }
			sup, err := ingest.New(cfg, ms)
			if err != nil {
				t.Fatal(err)
			}
			stop := runSupervisor(t, sup)
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("stats: %+v\nlogs:\n%s", sup.Stats(), logs)
				}
			})
			begin := time.Now()
			awaitAudio(t, ms, "cam", begin)
			awaitAudio(t, ms, "control", begin)

			f := c.fault
			if f.Kind != loadtest.FaultServerRestart {
				f.Stream = "cam"
			}
			accepts := srv.Accepts()
			if _, err := srv.Inject(f); err != nil {
				t.Fatal(err)
			}
			ev := faultEvent(t, srv, 0)
			if c.stall != "" {
				s := receive(t, stalls)
				if s.Stream != "cam" || s.Reason != c.stall || s.Stage != ingest.StageSource {
					t.Fatalf("stall %+v, want %s at stage source", s, c.stall)
				}
				detect := s.Detected.Sub(ev.Began)
				t.Logf("detected %s after %s", s.Reason, detect.Round(time.Millisecond))
				if detect > faultLiveness+faultDetectSlack {
					t.Errorf("detected after %s, want within %s", detect, faultLiveness+faultDetectSlack)
				}
				checkBundle(t, s)
			}
			if exp.Required != "" {
				g := ms.await(t, exp.Required+" gap", func(r schema.Record) bool { return r.Stream == "cam" && r.Kind == schema.KindGap })
				if g.Reason != exp.Required {
					t.Errorf("first gap %q, want %q", g.Reason, exp.Required)
				}
			}
			if c.failure != "" {
				testkit.WaitFor(t, waitTimeout, "failure "+c.failure, func() bool {
					st, _ := sup.StreamStats("cam")
					return st.Failure == c.failure
				})
				if st, _ := sup.StreamStats("cam"); exp.Permanent != (st.State == ingest.StateError) {
					t.Errorf("state %s for failure %s, permanent %v", st.State, st.Failure, exp.Permanent)
				}
				// rtspsrc connects to a redirect's Location itself before
				// earshot stops it: 2 connections per target.
				max := c.maxAccepts
				if backend == ingest.BackendGStreamer {
					max *= 2
				}
				if n := srv.Accepts() - accepts; max > 0 && n > max {
					t.Errorf("the server accepted %d connections until the failure, want at most %d", n, max)
				}
			}
			if ev.Ended.IsZero() {
				ev = faultEvent(t, srv, waitTimeout)
			}
			// After a reconnect, audio resumes in a later epoch: packets
			// sent just before the fault may be captured just after the
			// instant the camera logs it.
			var resumed time.Time
			if c.sameEpoch {
				resumed = awaitAudio(t, ms, "cam", ev.Ended)
			} else {
				first := ms.Records("cam")[0].Epoch
				resumed = awaitAudioWhere(t, ms, "cam", func(r schema.Record) bool {
					return r.Epoch != first && r.CaptureTime.After(ev.Ended)
				})
			}
			recovery := resumed.Sub(ev.Ended)
			t.Logf("audio resumed %s after the source recovered", recovery.Round(time.Millisecond))
			if limit := recoverLimit(exp.Permanent); recovery > limit {
				t.Errorf("audio resumed %s after the source recovered, want within %s", recovery, limit)
			}
			stop()

			checkFaultRecords(t, ms.Records("cam"), exp, c.sameEpoch)
			checkCounters(t, sup, ms.Records("cam"), exp.Required == schema.ReasonRTPLoss)
			if !c.serverWide {
				if n := srv.SkippedRounds(); n > 0 {
					t.Logf("the host was too slow: the camera skipped %d packets of every stream", n)
				}
				checkUnaffected(t, ms.Records("control"), time.Since(begin))
			}
			if cs, _ := sup.StreamStats("control"); cs.Stalls != 0 && !c.serverWide {
				t.Errorf("control stream stalled %d times", cs.Stalls)
			}
			checkNoSecret(t, logs.String(), diag, ms, sup)
			checkNoSecretSent(t, srv)
		})
	}
}

// startFaultCameras starts the synthetic cameras of the fault tests: cam
// (spec, which faults act on) and control (PCMU, never faulted), over UDP
// too if udp. The server closes when the test ends.
func startFaultCameras(t *testing.T, spec loadtest.StreamSpec, udp bool) *loadtest.Server {
	t.Helper()
	return loadtesttest.NewServer(t, loadtest.ServerConfig{
		Streams:            []loadtest.StreamSpec{spec, {Name: "control", Codec: "pcmu"}},
		UDP:                udp,
		SenderReportPeriod: 500 * time.Millisecond,
		Logger:             slog.New(slog.DiscardHandler),
	})
}

// faultConfig is the supervisor configuration of the fault tests: cam over
// transport, control over TCP, debug logs to logs.
func faultConfig(camURL, transport, controlURL string, logs io.Writer) ingest.Config {
	return ingest.Config{
		Streams: []ingest.StreamConfig{
			{ID: "cam", URL: camURL, Transport: transport},
			{ID: "control", URL: controlURL, Transport: "tcp"},
		},
		Chunk:           faultChunk,
		Timeout:         faultTimeout,
		LivenessTimeout: faultLiveness,
		ReconnectMin:    200 * time.Millisecond,
		ReconnectMax:    faultReconnectMax,
		PermanentRetry:  faultPermanent,
		Logger:          slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// checkNoSecretSent checks that the other host of redirect_other_host, if
// anyone went there, received no credentials.
func checkNoSecretSent(t *testing.T, srv *loadtest.Server) {
	t.Helper()
	d := srv.Decoy()
	if d == nil {
		return
	}
	_, reqs := d.Seen()
	for _, r := range reqs {
		if r.Authorization != "" || strings.Contains(r.URL, faultSecret) {
			t.Errorf("another host received credentials: %+v", r)
		}
	}
}

func recoverLimit(permanent bool) time.Duration {
	if permanent {
		return faultPermanent + faultRecoverWithin
	}
	return faultRecoverWithin
}

// faultEvent returns the server's first fault event: at once, or with
// wait > 0 once it has ended.
func faultEvent(t *testing.T, srv *loadtest.Server, wait time.Duration) loadtest.FaultEvent {
	t.Helper()
	if wait == 0 {
		log := srv.FaultLog()
		if len(log) == 0 {
			t.Fatal("fault not in the server's log")
		}
		return log[0]
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ev, err := srv.WaitFault(ctx, 0)
	if err != nil {
		t.Fatalf("fault did not end: %v", err)
	}
	return ev
}

// awaitAudio waits for an audio record of stream captured after since and
// returns when it was seen.
func awaitAudio(t *testing.T, ms *memSink, stream string, since time.Time) time.Time {
	t.Helper()
	return awaitAudioWhere(t, ms, stream, func(r schema.Record) bool { return r.CaptureTime.After(since) })
}

// awaitAudioWhere waits for an audio record of stream that pred accepts,
// and returns when it saw it.
func awaitAudioWhere(t *testing.T, ms *memSink, stream string, pred func(schema.Record) bool) time.Time {
	t.Helper()
	for _, r := range ms.Records(stream) {
		if r.Kind == schema.KindAudio && pred(r) {
			return time.Now()
		}
	}
	ms.await(t, stream+" audio", func(r schema.Record) bool {
		return r.Stream == stream && r.Kind == schema.KindAudio && pred(r)
	})
	return time.Now()
}

// checkFaultRecords checks each epoch of the faulted stream, whether it
// reconnected, and that a fault that must leave no gap leaves none (on an
// idle loopback; under load it may leave those exp allows).
func checkFaultRecords(t *testing.T, recs []schema.Record, exp loadtest.FaultExpectation, sameEpoch bool) {
	t.Helper()
	epochs := splitEpochs(recs)
	for _, e := range epochs {
		checkEpoch(t, e, e[0].Codec)
	}
	if sameEpoch && len(epochs) != 1 {
		t.Errorf("%d epochs, want the stream to ride the fault out in one", len(epochs))
	}
	if !sameEpoch && len(epochs) < 2 {
		t.Errorf("%d epochs, want a reconnect", len(epochs))
	}
	// A fault ridden out leaves its own gaps only: UDP loss, for one, not
	// the burst gortsplib's reorder buffer releases after it dropped on
	// the way (callback_blocked, sdk_queue_full, handoff_drop).
	if exp.Required == "" || sameEpoch {
		for _, r := range recs {
			if r.Kind == schema.KindGap && r.Reason != exp.Required {
				t.Errorf("unexpected gap %q of %d ms", r.Reason, r.GapMS)
			}
		}
	}
}

// checkCounters: the stream's gap counts by reason are its gap records,
// and the SDK's counters summed over its sessions are consistent.
func checkCounters(t *testing.T, sup *ingest.Supervisor, recs []schema.Record, lost bool) {
	t.Helper()
	st, err := sup.StreamStats("cam")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{}
	for _, r := range recs {
		if r.Kind == schema.KindGap {
			want[r.Reason]++
		}
	}
	if !maps.Equal(st.GapReasons, want) {
		t.Errorf("gaps by reason %v, want %v as in the records", st.GapReasons, want)
	}
	if st.RTPReceived < st.Packets || st.Packets == 0 {
		t.Errorf("%d RTP packets received, %d reached the worker", st.RTPReceived, st.Packets)
	}
	if lost && st.RTPLost == 0 {
		t.Error("no RTP packet counted lost")
	}
}

func splitEpochs(recs []schema.Record) [][]schema.Record {
	var out [][]schema.Record
	for _, r := range recs {
		if r.Kind == schema.KindStart || len(out) == 0 {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], r)
	}
	return out
}

// checkUnaffected: the control stream played the whole time in one epoch
// without a gap.
func checkUnaffected(t *testing.T, recs []schema.Record, elapsed time.Duration) {
	t.Helper()
	var samples int64
	for _, r := range recs {
		switch r.Kind {
		case schema.KindGap:
			t.Errorf("control stream: gap %q of %d ms", r.Reason, r.GapMS)
		case schema.KindStart:
			if r.Epoch != recs[0].Epoch {
				t.Errorf("control stream reconnected (epoch %d after %d)", r.Epoch, recs[0].Epoch)
			}
		case schema.KindAudio:
			samples += int64(len(r.PCM) / 2)
		}
	}
	if played := time.Duration(samples) * time.Second / 16000; played < elapsed-time.Second {
		t.Errorf("control stream delivered %s of audio in %s", played, elapsed)
	}
}

// checkNoSecret: the camera password is in no log line, API answer,
// diagnostics file or record.
func checkNoSecret(t *testing.T, logs, diag string, ms *memSink, sup *ingest.Supervisor) {
	t.Helper()
	if strings.Contains(logs, faultSecret) {
		t.Error("logs contain the camera password")
	}
	api := []byte{}
	for _, s := range sup.Stats() {
		api = append(api, s.URL+s.LastError...)
	}
	if strings.Contains(string(api), faultSecret) {
		t.Error("stream stats contain the camera password")
	}
	filepath.WalkDir(diag, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), faultSecret) {
				t.Errorf("diagnostics file %s contains the camera password", p)
			}
		}
		return nil
	})
	for _, r := range ms.Records("cam") {
		m := sink.Message(r, "t")
		for _, h := range m.Headers {
			if strings.Contains(string(h.Value), faultSecret) {
				t.Errorf("record header %s contains the camera password", h.Key)
			}
		}
	}
}
