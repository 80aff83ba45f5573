package loadtesttest_test

import (
	"net"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/earshot/earshot/loadtest"
	"github.com/earshot/earshot/loadtest/loadtesttest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var codecOfCases = []struct {
	name, codec string
}{
	{"pcma", "pcma"},
	{"pcma-1", "pcma"},
	{"g726-24", "g726-24"},
	{"g726-24-b", "g726-24"},
	{"aal2-g726-40-x", "aal2-g726-40"},
	{"aac-latm", "aac-latm"},
	{"aac-1", "aac"},
	{"p1", ""},
	{"pcmax", ""},
}

func TestCodecOfTakesTheLongestCodecPrefix(t *testing.T) {
	for _, tc := range codecOfCases {
		if got := loadtesttest.CodecOf(tc.name); got != tc.codec {
			t.Errorf("CodecOf(%q) = %q, want %q", tc.name, got, tc.codec)
		}
	}
}

// TestCamerasServeOnLoopbackUntilTheTestEnds: the server listens on a free
// loopback port while the subtest runs and no longer once it has ended.
func TestCamerasServeOnLoopbackUntilTheTestEnds(t *testing.T) {
	var addr string
	t.Run("serve", func(t *testing.T) {
		srv := loadtesttest.Cameras(t, "pcma-1", "opus")
		addr = srv.Addr()
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host != "127.0.0.1" || port == "0" {
			t.Fatalf("Addr() = %q, want 127.0.0.1 and a chosen port", addr)
		}
		if u := srv.URL("opus"); !strings.HasPrefix(u, "rtsp://"+addr+"/") {
			t.Errorf("URL(opus) = %q", u)
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial while serving: %v", err)
		}
		c.Close()
	})
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after the test ended", addr)
	}
}

func TestStreamsNameEveryCamera(t *testing.T) {
	got := loadtesttest.Streams("pcmu-a", "l16")
	want := []loadtest.StreamSpec{{Name: "pcmu-a", Codec: "pcmu"}, {Name: "l16", Codec: "l16"}}
	if len(got) != len(want) {
		t.Fatalf("Streams = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Name != want[i].Name || got[i].Codec != want[i].Codec {
			t.Errorf("Streams[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}
