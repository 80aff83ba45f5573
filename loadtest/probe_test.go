package loadtest

import (
	"crypto/tls"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// waitBound bounds every wait of the fault tests: far beyond what any
// expected event takes, so that reaching it means the event never came.
const waitBound = 10 * time.Second

// maxProbeRecord bounds how many audio packets a probe keeps (40 s of
// audio at 20 ms).
const maxProbeRecord = 2000

// probe is a plain gortsplib client playing one stream, recording what it
// receives, for the fault tests. gortsplib's reader goroutine records; the
// test reads through the methods.
type probe struct {
	c    *gortsplib.Client
	desc *description.Session

	mu    sync.Mutex
	audio []arrival // audio RTP packets, in arrival order
	video []arrival // video RTP packets, in arrival order
	// videoBefore[i] is how many video packets had arrived before
	// audio[i]: over TCP one goroutine reads both tracks, so this is
	// their order on the wire.
	videoBefore []int
	srs         []rtcp.SenderReport // audio track sender reports
	decodeErrs  []error
	changed     chan struct{} // signalled (cap 1) on every record

	done    chan struct{} // closed when the client has stopped
	waitErr error         // why it stopped; read after done
}

// probeOptions tune startProbe.
type probeOptions struct {
	transport gortsplib.Transport
	tls       *tls.Config // for rtsps:// URLs
}

// startProbe connects to rawURL and plays every track. It fails the test
// if the stream cannot be played.
func startProbe(t *testing.T, rawURL string, o probeOptions) *probe {
	t.Helper()
	p, err := dialProbe(rawURL, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	return p
}

// dialProbe is startProbe, returning errors; the caller closes the probe.
func dialProbe(rawURL string, o probeOptions) (*probe, error) {
	u, err := base.ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	transport := o.transport
	// gortsplib sets the TLS config's ServerName: one config per client.
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: &transport, TLSConfig: o.tls.Clone()}
	p := &probe{c: c, changed: make(chan struct{}, 1), done: make(chan struct{})}
	c.OnPacketsLost = func(uint64) {} // lost packets show in the records
	c.OnDecodeError = func(err error) {
		p.record(func() { p.decodeErrs = append(p.decodeErrs, err) })
	}
	if err := c.Start2(); err != nil {
		return nil, fmt.Errorf("client start: %w", err)
	}
	if err := p.play(u); err != nil {
		c.Close()
		return nil, err
	}
	go func() {
		defer close(p.done)
		p.waitErr = c.Wait()
	}()
	return p, nil
}

func (p *probe) play(u *base.URL) error {
	desc, _, err := p.c.Describe(u)
	if err != nil {
		return fmt.Errorf("describe %s: %w", u, err)
	}
	p.desc = desc
	if err := p.c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	// Called on the client's reader goroutine.
	p.c.OnPacketRTPAny(func(m *description.Media, _ format.Format, pkt *rtp.Packet) {
		at := time.Now()
		a := arrival{pkt: pkt.Clone(), at: at}
		p.record(func() {
			switch {
			case m.Type == description.MediaTypeVideo && len(p.video) < maxProbeRecord:
				p.video = append(p.video, a)
			case m.Type == description.MediaTypeAudio && len(p.audio) < maxProbeRecord:
				p.audio = append(p.audio, a)
				p.videoBefore = append(p.videoBefore, len(p.video))
			}
		})
	})
	p.c.OnPacketRTCPAny(func(m *description.Media, pkt rtcp.Packet) {
		if sr, ok := pkt.(*rtcp.SenderReport); ok && m.Type == description.MediaTypeAudio {
			p.record(func() { p.srs = append(p.srs, *sr) })
		}
	})
	if _, err := p.c.Play(nil); err != nil {
		return fmt.Errorf("play: %w", err)
	}
	return nil
}

// record applies change under the probe's lock and signals waiters.
func (p *probe) record(change func()) {
	p.mu.Lock()
	change()
	p.mu.Unlock()
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

func (p *probe) close() {
	p.c.Close()
	<-p.done
}

// probeCounts is how much a probe has received so far.
type probeCounts struct{ audio, video, srs int }

func (p *probe) counts() probeCounts {
	p.mu.Lock()
	defer p.mu.Unlock()
	return probeCounts{len(p.audio), len(p.video), len(p.srs)}
}

// audioSince returns the audio packets received from index i on.
func (p *probe) audioSince(i int) []arrival {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]arrival(nil), p.audio[min(i, len(p.audio)):]...)
}

// videoLag returns, for each audio packet from index i on, how many pacer
// rounds its RTP time is behind that of the last video packet before it on
// the wire, plus a constant. Both tracks are sent in the same rounds, so
// an increase is how long the audio packet was held back; unlike arrival
// times, it does not depend on how busy the host is. ticks is the audio
// RTP clock per round. Audio packets before the first video one are
// skipped.
func (p *probe) videoLag(i int, ticks uint32) []int {
	const videoTicks = 90000 * int64(testPacket) / int64(time.Second)
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []int
	for j := max(i, 0); j < len(p.audio); j++ {
		if p.videoBefore[j] == 0 {
			continue
		}
		v := p.video[p.videoBefore[j]-1].pkt.Timestamp - p.video[0].pkt.Timestamp
		a := p.audio[j].pkt.Timestamp - p.audio[0].pkt.Timestamp
		out = append(out, int(int64(int32(v))/videoTicks)-int(int64(int32(a))/int64(ticks)))
	}
	return out
}

// srsSince returns the sender reports received from index i on.
func (p *probe) srsSince(i int) []rtcp.SenderReport {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]rtcp.SenderReport(nil), p.srs[min(i, len(p.srs)):]...)
}

// await waits until cond holds for the probe's counts, failing the test
// after waitBound or if the client stops first.
func (p *probe) await(t *testing.T, what string, cond func(probeCounts) bool) probeCounts {
	t.Helper()
	deadline := time.NewTimer(waitBound)
	defer deadline.Stop()
	for {
		if c := p.counts(); cond(c) {
			return c
		}
		select {
		case <-p.changed:
		case <-p.done:
			if c := p.counts(); cond(c) {
				return c
			}
			t.Fatalf("waiting for %s: the client stopped: %v (received %+v)", what, p.waitErr, p.counts())
		case <-deadline.C:
			t.Fatalf("waiting for %s: nothing after %v (received %+v)", what, waitBound, p.counts())
		}
	}
}

// awaitMore waits until the probe has n more audio packets than at from.
func (p *probe) awaitAudio(t *testing.T, from probeCounts, n int) probeCounts {
	t.Helper()
	return p.await(t, fmt.Sprintf("%d audio packets", n), func(c probeCounts) bool { return c.audio >= from.audio+n })
}

// awaitStopped waits until the client stops (its session was ended), and
// returns why.
func (p *probe) awaitStopped(t *testing.T) error {
	t.Helper()
	select {
	case <-p.done:
		return p.waitErr
	case <-time.After(waitBound):
		t.Fatalf("the client still plays after %v", waitBound)
		return nil
	}
}
