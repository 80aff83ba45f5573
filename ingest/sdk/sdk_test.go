package sdk_test

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/ingest/sdk"
	"github.com/earshot/earshot/loadtest/loadtesttest"
)

// codecCases are the codecs the synthetic cameras serve, with what Open
// must report for them.
var codecCases = []struct {
	codec      string
	clockRate  int
	sampleRate int
	channels   int
}{
	{audio.CodecOpus, 48000, 48000, 1},
	{audio.CodecPCMA, 8000, 8000, 1},
	{audio.CodecPCMU, 8000, 8000, 1},
	{audio.CodecL16, 16000, 16000, 2},
	{audio.CodecAAC, 16000, 16000, 1},
	{audio.CodecAACLATM, 48000, 48000, 2},
	{audio.CodecG722, 8000, 16000, 1},
	{"g726-24", 8000, 8000, 1},
	{"aal2-g726-40", 8000, 8000, 1},
}

// waitTimeout bounds every wait in these tests; they finish far sooner.
const waitTimeout = 10 * time.Second

func newSDK(t *testing.T, o sdk.Options) *sdk.SDK {
	t.Helper()
	s, err := sdk.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// copied is a frame as a careful consumer keeps it.
type copied struct {
	data []byte
	seq  uint16
	ts   uint32
	c    *sdk.Codec
}

func collect(ch chan<- copied) sdk.DataCallback {
	return func(_ sdk.Handle, f *sdk.Frame) {
		select {
		case ch <- copied{data: bytes.Clone(f.Data), seq: f.Seq, ts: f.Timestamp, c: f.Codec}:
		default:
		}
	}
}

func receive[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func TestOpenDeliversFramesOfEveryCodec(t *testing.T) {
	var names []string
	for _, c := range codecCases {
		names = append(names, c.codec)
	}
	srv := loadtesttest.Cameras(t, names...)
	s := newSDK(t, sdk.Options{Workers: 2})
	for _, tc := range codecCases {
		t.Run(tc.codec, func(t *testing.T) {
			frames := make(chan copied, 64)
			statuses := make(chan sdk.Status, 4)
			h, err := s.Open(srv.URL(tc.codec), sdk.OpenOptions{
				Transport: sdk.TransportTCP,
				OnData:    collect(frames),
				OnStatus:  func(_ sdk.Handle, st sdk.Status) { statuses <- st },
			})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close(h)
			if st := receive(t, statuses, "connected"); st.Kind != sdk.StatusConnected {
				t.Fatalf("first status = %v, want connected", st.Kind)
			}
			first := receive(t, frames, "first frame")
			if c := first.c; c.Name != tc.codec || c.ClockRate != tc.clockRate || c.SampleRate != tc.sampleRate || c.Channels != tc.channels {
				t.Fatalf("codec = %+v, want %s %d/%d/%d", *c, tc.codec, tc.clockRate, tc.sampleRate, tc.channels)
			}
			prev := first
			for range 10 {
				f := receive(t, frames, "frame")
				if f.seq != prev.seq+1 {
					t.Fatalf("seq %d after %d", f.seq, prev.seq)
				}
				if f.ts == prev.ts || len(f.data) == 0 {
					t.Fatalf("frame %d: timestamp %d after %d, %d bytes", f.seq, f.ts, prev.ts, len(f.data))
				}
				prev = f
			}
		})
	}
}

func TestOpenRejectsSourcesWithoutUsableAudio(t *testing.T) {
	cases := []struct {
		name  string
		media *description.Media
		want  string
		is    error
	}{
		{"video only", &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{&format.H264{PayloadTyp: 96, PacketizationMode: 1}}}, "no audio", sdk.ErrNoAudio},
		{"unsupported audio codec", &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{&format.AC3{PayloadTyp: 96, SampleRate: 48000, ChannelCount: 2}}}, "AC-3 (AC3/48000/2)", audio.ErrUnsupportedCodec},
		{"24-bit LPCM", &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{&format.LPCM{PayloadTyp: 97, BitDepth: 24, SampleRate: 48000, ChannelCount: 2}}}, "LPCM", audio.ErrUnsupportedCodec},
	}
	s := newSDK(t, sdk.Options{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := startStaticServer(t, &description.Session{Medias: []*description.Media{tc.media}})
			_, err := s.Open(u, sdk.OpenOptions{Transport: sdk.TransportTCP})
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open error = %v, want %v naming %q", err, tc.is, tc.want)
			}
		})
	}
}

func TestOpenErrorsNeverContainCredentials(t *testing.T) {
	srv := loadtesttest.Cameras(t, "opus")
	s := newSDK(t, sdk.Options{})
	urls := []string{
		"rtsp://admin:hunter2@" + srv.Addr() + "/nonexistent",              // 404
		"rtsp://admin:hunter2@127.0.0.1:1/opus",                            // connection refused
		"rtsp://admin:hunter2@" + srv.Addr() + "/op%zzus?password=hunter2", // bad escape
		"http://admin:hunter2@" + srv.Addr() + "/opus",                     // wrong scheme
		"rtsp://admin:hunter2@[::1/opus",                                   // unparsable
	}
	for _, u := range urls {
		_, err := s.Open(u, sdk.OpenOptions{Transport: sdk.TransportTCP, Timeout: 2 * time.Second})
		if err == nil {
			t.Fatalf("Open(%s) succeeded", sdk.Redact(u))
		}
		if msg := err.Error(); strings.Contains(msg, "hunter2") || strings.Contains(msg, "admin") {
			t.Fatalf("error leaks credentials: %s", msg)
		}
	}
}

var redactCases = []struct{ in, want string }{
	{"rtsp://admin:pw@10.0.0.1:554/s1", "rtsp://***@10.0.0.1:554/s1"},
	{"rtsp://10.0.0.1/s1", "rtsp://10.0.0.1/s1"},
	{"rtsp://cam/s?user=a&password=b&ch=1", "rtsp://cam/s?ch=1&password=***&user=***"},
	{"rtsp://a:b@[::1/x", "rtsp://<unparsable>"},
	{"::::", "<unparsable url>"},
}

func TestRedact(t *testing.T) {
	for _, tc := range redactCases {
		if got := sdk.Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzRedact(f *testing.F) {
	for _, tc := range redactCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := sdk.Redact(in)
		if i := strings.Index(in, "://"); i >= 0 {
			if at := strings.LastIndex(in, "@"); at > i+3 {
				secret := in[i+3 : at]
				if len(secret) >= 4 && !strings.ContainsAny(secret, "/?#") && strings.Contains(out, secret) {
					t.Fatalf("Redact(%q) = %q keeps user info", in, out)
				}
			}
		}
		// A ";password=" path parameter keeps no value of 4 or more
		// characters (the "***" it is replaced with is 3).
		if _, v, ok := strings.Cut(out, ";password="); ok && strings.Contains(in, "://") && !strings.ContainsAny(in, "?#") {
			if end := strings.IndexAny(v, ";/&"); end >= 0 {
				v = v[:end]
			}
			if len(v) > 3 {
				t.Fatalf("Redact(%q) = %q keeps a password parameter", in, out)
			}
		}
	})
}

// TestSlowCallbackFillsQueueAndIsReported: a callback that overruns its
// budget makes the handle's queue fill and drop, and the status callback
// hears about the overruns.
func TestSlowCallbackFillsQueueAndIsReported(t *testing.T) {
	srv := loadtesttest.Cameras(t, "pcma")
	drops := make(chan sdk.Handle, 64)
	s := newSDK(t, sdk.Options{Workers: 1, QueueLen: 4, CallbackBudget: time.Millisecond, DropObserver: observeDrops(drops)})
	release := make(chan struct{})
	var calls atomic.Int64
	overrun := make(chan sdk.Status, 16)
	h, err := s.Open(srv.URL("pcma"), sdk.OpenOptions{
		Transport: sdk.TransportTCP,
		OnData: func(sdk.Handle, *sdk.Frame) {
			if calls.Add(1) == 1 {
				<-release
			}
		},
		OnStatus: func(_ sdk.Handle, st sdk.Status) {
			if st.Kind == sdk.StatusCallbackOverrun {
				overrun <- st
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(h)
	for range 5 {
		receive(t, drops, "dropped frame")
	}
	close(release)
	st := receive(t, overrun, "overrun status")
	if st.Overruns < 1 || st.Duration <= time.Millisecond {
		t.Fatalf("overrun status %+v", st)
	}
	stats, _ := s.Stats(h)
	if stats.Overruns < 1 {
		t.Fatalf("stats %+v: no overrun counted", stats)
	}
}

// TestBlockedCallbackStarvesHandlesOnTheSameWorker reproduces the seed's
// failure inside the SDK: with one shared worker, a handle whose callback
// blocks stops delivery for every other handle.
func TestBlockedCallbackStarvesHandlesOnTheSameWorker(t *testing.T) {
	srv := loadtesttest.Cameras(t, "pcma-a", "pcmu-b")
	drops := make(chan sdk.Handle, 64)
	s := newSDK(t, sdk.Options{Workers: 1, QueueLen: 4, DropObserver: observeDrops(drops)})
	block := make(chan struct{})
	blocked := make(chan struct{})
	var once sync.Once
	ha, err := s.Open(srv.URL("pcma-a"), sdk.OpenOptions{Transport: sdk.TransportTCP, OnData: func(sdk.Handle, *sdk.Frame) {
		once.Do(func() { close(blocked) })
		<-block
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ha)
	<-blocked
	var bFrames atomic.Int64
	bResumed := make(chan struct{}, 1)
	hb, err := s.Open(srv.URL("pcmu-b"), sdk.OpenOptions{Transport: sdk.TransportTCP, OnData: func(sdk.Handle, *sdk.Frame) {
		bFrames.Add(1)
		select {
		case bResumed <- struct{}{}:
		default:
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(hb)
	for n := 0; n < 10; {
		if receive(t, drops, "dropped frame of b") == hb {
			n++
		}
	}
	if n := bFrames.Load(); n != 0 {
		t.Fatalf("b got %d frames while the only worker was blocked", n)
	}
	close(block)
	receive(t, bResumed, "b to resume")
}

// observeDrops forwards dropped-frame reports to ch without blocking.
func observeDrops(ch chan<- sdk.Handle) func(sdk.Handle) {
	return func(h sdk.Handle) {
		select {
		case ch <- h:
		default:
		}
	}
}

// TestFramesAreReusedAfterTheCallback: with PoisonBuffers, a consumer that
// keeps f.Data instead of copying it reads poison, which is how tests catch
// such consumers.
func TestFramesAreReusedAfterTheCallback(t *testing.T) {
	srv := loadtesttest.Cameras(t, "pcmu")
	s := newSDK(t, sdk.Options{PoisonBuffers: true})
	type kept struct{ alias, clone []byte }
	got := make(chan kept, 1)
	h, err := s.Open(srv.URL("pcmu"), sdk.OpenOptions{Transport: sdk.TransportTCP, OnData: func(_ sdk.Handle, f *sdk.Frame) {
		select {
		case got <- kept{alias: f.Data, clone: bytes.Clone(f.Data)}:
		default:
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	k := receive(t, got, "frame")
	s.Close(h) // the callback has returned: the SDK may reuse the buffer
	if bytes.Equal(k.alias, k.clone) {
		t.Fatal("retained frame bytes still equal the copy: poisoning did not happen")
	}
	if k.alias[0] != 0xDB {
		t.Fatalf("retained byte = %#x, want poison 0xdb", k.alias[0])
	}
}

func TestCloseStopsCallbacks(t *testing.T) {
	srv := loadtesttest.Cameras(t, "opus")
	s := newSDK(t, sdk.Options{})
	var after atomic.Bool
	var calls atomic.Int64
	flowing := make(chan struct{})
	h, err := s.Open(srv.URL("opus"), sdk.OpenOptions{Transport: sdk.TransportTCP, OnData: func(sdk.Handle, *sdk.Frame) {
		if calls.Add(1) == 3 {
			close(flowing)
		}
		if after.Load() {
			panic("callback after Close")
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	receive(t, flowing, "frames")
	final, err := s.Close(h)
	if err != nil {
		t.Fatal(err)
	}
	after.Store(true)
	// Close's counters come after the last callback: each one is in them.
	if n := calls.Load(); final.Frames != uint64(n) || final.Received < final.Frames {
		t.Errorf("Close counted %d frames and %d received, %d callbacks ran", final.Frames, final.Received, n)
	}
	if _, err := s.Close(h); !errors.Is(err, sdk.ErrInvalidHandle) {
		t.Fatalf("second Close = %v, want ErrInvalidHandle", err)
	}
	if _, err := s.Stats(h); !errors.Is(err, sdk.ErrInvalidHandle) {
		t.Fatalf("Stats after Close = %v", err)
	}
}

func TestDisconnectIsReported(t *testing.T) {
	srv := loadtesttest.Cameras(t, "pcma")
	s := newSDK(t, sdk.Options{})
	statuses := make(chan sdk.Status, 4)
	h, err := s.Open(srv.URL("pcma"), sdk.OpenOptions{Transport: sdk.TransportTCP, OnStatus: func(_ sdk.Handle, st sdk.Status) { statuses <- st }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(h)
	receive(t, statuses, "connected")
	srv.Close()
	st := receive(t, statuses, "disconnected")
	if st.Kind != sdk.StatusDisconnected || st.Err == nil {
		t.Fatalf("status %+v, want disconnected with a reason", st)
	}
}

func TestOptionsValidation(t *testing.T) {
	cases := []struct {
		o    sdk.Options
		want string
	}{
		{sdk.Options{Workers: -1}, "Workers"},
		{sdk.Options{QueueLen: 1 << 20}, "QueueLen"},
		{sdk.Options{CallbackBudget: -time.Second}, "CallbackBudget"},
	}
	for _, tc := range cases {
		if _, err := sdk.New(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want error naming %s", tc.o, err, tc.want)
		}
	}
}

func TestShutdownRefusesOpen(t *testing.T) {
	s, err := sdk.New(sdk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Shutdown()
	s.Shutdown() // idempotent
	if _, err := s.Open("rtsp://127.0.0.1:1/x", sdk.OpenOptions{}); !errors.Is(err, sdk.ErrShutdown) {
		t.Fatalf("Open after Shutdown = %v", err)
	}
}
