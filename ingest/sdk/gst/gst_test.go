//go:build gstreamer

package gst

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/audio/decoder"
	"github.com/earshot/earshot/ingest/sdk"
	"github.com/earshot/earshot/loadtest"
	"github.com/earshot/earshot/loadtest/loadtesttest"
)

// backend is what the tests need of either backend.
type backend interface {
	OpenContext(ctx context.Context, rawURL string, o sdk.OpenOptions) (sdk.Handle, error)
	Codec(h sdk.Handle) (sdk.Codec, error)
	Stats(h sdk.Handle) (sdk.HandleStats, error)
	Close(h sdk.Handle) (sdk.HandleStats, error)
	Shutdown()
}

func newGst(t testing.TB, o Options) *SDK {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

func newGortsplib(t testing.TB) *sdk.SDK {
	t.Helper()
	s, err := sdk.New(sdk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// collector copies frames out of the data callback.
type collector struct {
	mu     sync.Mutex
	frames []sdk.Frame
	enough chan struct{}
	want   int
	status []sdk.Status
}

func newCollector(want int) *collector {
	return &collector{want: want, enough: make(chan struct{})}
}

func (c *collector) onData(_ sdk.Handle, f *sdk.Frame) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.frames) == c.want {
		return
	}
	g := *f
	g.Data = append([]byte(nil), f.Data...)
	c.frames = append(c.frames, g)
	if len(c.frames) == c.want {
		close(c.enough)
	}
}

func (c *collector) onStatus(_ sdk.Handle, st sdk.Status) {
	c.mu.Lock()
	c.status = append(c.status, st)
	c.mu.Unlock()
}

// collect opens rawURL over TCP on b, copies its first n frames and closes
// it; it returns the track's codec and the frames.
func collect(t *testing.T, b backend, rawURL string, n int) (sdk.Codec, []sdk.Frame) {
	t.Helper()
	col := newCollector(n)
	h, err := b.OpenContext(context.Background(), rawURL, sdk.OpenOptions{
		Transport: sdk.TransportTCP, OnData: col.onData, OnStatus: col.onStatus})
	if err != nil {
		t.Fatal(err)
	}
	codec, err := b.Codec(h)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-col.enough:
	case <-time.After(15 * time.Second):
		b.Close(h)
		t.Fatalf("only %d frames in 15 s", len(col.frames))
	}
	b.Close(h) // no callback runs after it returns
	return codec, col.frames
}

// decode decodes frames to 16 kHz mono.
func decode(t *testing.T, codec sdk.Codec, frames []sdk.Frame) []int16 {
	t.Helper()
	d, err := decoder.New(codec.Format(), 16000)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var pcm []int16
	for _, f := range frames {
		s, err := d.Decode(f.Data, f.Marker)
		if err != nil {
			t.Fatalf("decode seq %d: %v", f.Seq, err)
		}
		pcm = append(pcm, s...)
	}
	return pcm
}

// TestEveryCodecDecodesFaithfullyThroughBothBackends opens every codec of
// the registry through the GStreamer backend and the gortsplib backend,
// decodes 3 s and correlates it with the camera's clip.
func TestEveryCodecDecodesFaithfullyThroughBothBackends(t *testing.T) {
	names := audio.Codecs()
	cams := loadtesttest.NewServer(t, loadtest.ServerConfig{Streams: loadtesttest.Streams(names...)})
	backends := map[string]backend{"gstreamer": newGst(t, Options{}), "gortsplib": newGortsplib(t)}
	for _, name := range audio.Codecs() {
		c, _ := audio.LookupCodec(name)
		for bname, b := range backends {
			t.Run(name+"/"+bname, func(t *testing.T) {
				t.Parallel()
				const packets = 150 // 3 s of 20 ms packets
				codec, frames := collect(t, b, cams.URL(name), packets)
				if codec.Name != name {
					t.Errorf("codec %q, want %q", codec.Name, name)
				}
				pcm := decode(t, codec, frames)
				if len(pcm) < 16000*2+3200 {
					t.Fatalf("only %d samples", len(pcm))
				}
				corr, _ := loadtest.Fidelity(pcm[3200:3200+2*16000], cams.Clip())
				t.Logf("%s over %s: correlation %.3f", name, bname, corr)
				if corr < c.Fidelity {
					t.Errorf("correlation %.3f < %.2f", corr, c.Fidelity)
				}
				for i := 1; i < len(frames); i++ {
					if frames[i].Seq != frames[i-1].Seq+1 {
						t.Errorf("seq %d after %d", frames[i].Seq, frames[i-1].Seq)
						break
					}
				}
			})
		}
	}
}

// TestOpenErrorsClassifyAsWithGortsplib: wrong credentials and a missing
// path are classified alike by both backends, without credentials in the
// message.
func TestOpenErrorsClassifyAsWithGortsplib(t *testing.T) {
	cams := loadtesttest.NewServer(t, loadtest.ServerConfig{Streams: []loadtest.StreamSpec{
		{Name: "locked", Codec: audio.CodecPCMU, User: "admin", Password: "s3cret-pw"}}})
	s := newGst(t, Options{})
	ok := cams.URLWithCredentials("locked")
	bad := "rtsp://admin:wrong-pw@" + cams.Addr() + "/locked"
	cases := []struct {
		name, url, kind string
	}{
		{"right credentials open", ok, ""},
		{"wrong credentials are unauthorized", bad, sdk.FailUnauthorized},
		{"a missing path is not found", cams.URL("nope"), sdk.FailNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, err := s.OpenContext(context.Background(), tc.url, sdk.OpenOptions{Transport: sdk.TransportTCP, Timeout: 5 * time.Second})
			if err == nil {
				s.Close(h)
			}
			kind, _ := sdk.Classify(err)
			if kind != tc.kind {
				t.Fatalf("kind %q (%v), want %q", kind, err, tc.kind)
			}
			if err != nil && (errors.Is(err, sdk.ErrShutdown) || strings.Contains(err.Error(), "s3cret-pw") || strings.Contains(err.Error(), "wrong-pw")) {
				t.Errorf("error %q", err)
			}
		})
	}
}
