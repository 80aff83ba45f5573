package loadtest

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/headers"
	"github.com/bluenviron/gortsplib/v4/pkg/sdp"
	"github.com/pion/rtp"
)

// rawReader is a minimal RTSP client over TCP for the tests that must see
// what gortsplib's client hides or refuses: bytes between interleaved
// frames, an SSRC change, a request left unanswered, a connection reset.
// It is used by one goroutine.
type rawReader struct {
	nc      net.Conn
	br      *bufio.Reader
	url     *base.URL
	cseq    int
	session string
}

// rawRTP is an RTP packet read by a rawReader, with the garbage bytes
// read since the previous one.
type rawRTP struct {
	pkt     rtp.Packet
	garbage int
}

// rawFrame is one interleaved frame, with how many bytes that belong to no
// frame came before it.
type rawFrame struct {
	channel int
	payload []byte
	garbage int
}

// dialRaw connects to the server of rawURL (over TLS if tlsCfg is set).
func dialRaw(t *testing.T, rawURL string, tlsCfg *tls.Config) *rawReader {
	t.Helper()
	u, err := base.ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.DialTimeout("tcp", u.Host, waitBound)
	if err != nil {
		t.Fatal(err)
	}
	if tlsCfg != nil {
		cfg := tlsCfg.Clone()
		cfg.ServerName = u.Hostname()
		nc = tls.Client(nc, cfg)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawReader{nc: nc, br: bufio.NewReader(nc), url: u}
}

// send writes a request for u (the stream's URL if nil).
func (r *rawReader) send(method base.Method, u *base.URL, header base.Header) error {
	if u == nil {
		u = r.url
	}
	if header == nil {
		header = base.Header{}
	}
	r.cseq++
	header["CSeq"] = base.HeaderValue{strconv.Itoa(r.cseq)}
	if r.session != "" {
		header["Session"] = base.HeaderValue{r.session}
	}
	b, err := (&base.Request{Method: method, URL: u, Header: header}).Marshal()
	if err != nil {
		return err
	}
	r.nc.SetWriteDeadline(time.Now().Add(waitBound))
	_, err = r.nc.Write(b)
	return err
}

// awaitResponse reads the next response, skipping the interleaved frames
// before it, waiting at most d in all.
func (r *rawReader) awaitResponse(d time.Duration) (*base.Response, error) {
	r.nc.SetReadDeadline(time.Now().Add(d))
	for {
		b, err := r.br.Peek(1)
		if err != nil {
			return nil, err
		}
		if b[0] != '$' {
			var res base.Response
			if err := res.Unmarshal(r.br); err != nil {
				return nil, err
			}
			return &res, nil
		}
		var h [4]byte
		if _, err := io.ReadFull(r.br, h[:]); err != nil {
			return nil, err
		}
		if _, err := r.br.Discard(int(binary.BigEndian.Uint16(h[2:]))); err != nil {
			return nil, err
		}
	}
}

// do sends a request and returns its response, requiring 200 OK.
func (r *rawReader) do(method base.Method, u *base.URL, header base.Header) (*base.Response, error) {
	if err := r.send(method, u, header); err != nil {
		return nil, err
	}
	res, err := r.awaitResponse(waitBound)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	if res.StatusCode != base.StatusOK {
		return nil, fmt.Errorf("%s: status %d", method, res.StatusCode)
	}
	return res, nil
}

// play sets up the stream's audio track on interleaved channels 0-1 and
// plays it. It fails the test on error.
func (r *rawReader) play(t *testing.T) {
	t.Helper()
	res, err := r.do(base.Describe, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(res.Body); err != nil {
		t.Fatalf("SDP: %v", err)
	}
	var desc description.Session
	if err := desc.Unmarshal(&sd); err != nil {
		t.Fatalf("SDP: %v", err)
	}
	var control string
	for _, m := range desc.Medias {
		if m.Type == description.MediaTypeAudio {
			control = m.Control
		}
	}
	if control == "" {
		t.Fatalf("SDP without audio track:\n%s", res.Body)
	}
	track, err := base.ParseURL(r.url.String() + "/" + control)
	if err != nil {
		t.Fatal(err)
	}
	mode := headers.TransportModePlay
	delivery := headers.TransportDeliveryUnicast
	th := headers.Transport{
		Protocol:       headers.TransportProtocolTCP,
		Delivery:       &delivery,
		Mode:           &mode,
		InterleavedIDs: &[2]int{0, 1},
	}
	res, err = r.do(base.Setup, track, base.Header{"Transport": th.Marshal()})
	if err != nil {
		t.Fatal(err)
	}
	var sh headers.Session
	if err := sh.Unmarshal(res.Header["Session"]); err != nil {
		t.Fatalf("SETUP: session header: %v", err)
	}
	r.session = sh.Session
	if _, err := r.do(base.Play, nil, nil); err != nil {
		t.Fatal(err)
	}
}

// next reads the next interleaved frame, counting the bytes before it that
// start no frame.
func (r *rawReader) next() (rawFrame, error) {
	r.nc.SetReadDeadline(time.Now().Add(waitBound))
	var f rawFrame
	for {
		b, err := r.br.ReadByte()
		if err != nil {
			return f, err
		}
		if b == '$' {
			break
		}
		f.garbage++
	}
	var h [3]byte
	if _, err := io.ReadFull(r.br, h[:]); err != nil {
		return f, err
	}
	f.channel = int(h[0])
	f.payload = make([]byte, binary.BigEndian.Uint16(h[1:]))
	_, err := io.ReadFull(r.br, f.payload)
	return f, err
}

// nextRTP reads frames until an RTP one (channel 0), summing the garbage
// before all of them.
func (r *rawReader) nextRTP() (rawRTP, error) {
	garbage := 0
	for {
		f, err := r.next()
		if err != nil {
			return rawRTP{}, err
		}
		garbage += f.garbage
		if f.channel != 0 {
			continue
		}
		var p rawRTP
		if err := p.pkt.Unmarshal(f.payload); err != nil {
			return rawRTP{}, fmt.Errorf("frame on channel 0 is not RTP: %w", err)
		}
		p.garbage = garbage
		return p, nil
	}
}
