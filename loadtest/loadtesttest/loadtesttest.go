// Package loadtesttest starts synthetic cameras (a loadtest.Server) for a
// test, in the manner of net/http/httptest: on a free loopback port, closed
// when the test ends.
package loadtesttest

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/loadtest"
)

// NewServer starts a loadtest.Server of cfg and closes it when the test and
// its subtests end. cfg.Address defaults to "127.0.0.1:0" as in
// loadtest.ServerConfig; cfg.Logger defaults here to discarding, so that
// fault lines do not clutter the test's output. It fails the test if the
// server cannot be made or started.
func NewServer(t testing.TB, cfg loadtest.ServerConfig) *loadtest.Server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	srv, err := loadtest.NewServer(cfg)
	if err != nil {
		t.Fatalf("loadtest.NewServer: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("loadtest.Server.Start: %v", err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// Cameras starts one synthetic camera per name, with the codec the name
// names (see Streams), and closes them when the test ends.
func Cameras(t testing.TB, names ...string) *loadtest.Server {
	t.Helper()
	return NewServer(t, loadtest.ServerConfig{Streams: Streams(names...)})
}

// Streams returns one StreamSpec per name. A stream's codec is the longest
// codec of audio.Codecs that equals its name or is followed in it by '-':
// "pcma" and "pcma-1" serve PCMA, "g726-24-b" serves G.726 at 24 kbit/s.
// A name that names no codec gets an empty Codec, which loadtest.NewServer
// refuses with a message naming the stream.
func Streams(names ...string) []loadtest.StreamSpec {
	specs := make([]loadtest.StreamSpec, 0, len(names))
	for _, n := range names {
		specs = append(specs, loadtest.StreamSpec{Name: n, Codec: CodecOf(n)})
	}
	return specs
}

// CodecOf returns the codec a stream name starts with: the longest codec of
// audio.Codecs equal to it or followed by '-', or "" if none is.
func CodecOf(name string) string {
	var best string
	for _, c := range audio.Codecs() {
		if (name == c || strings.HasPrefix(name, c+"-")) && len(c) > len(best) {
			best = c
		}
	}
	return best
}
