package loadtest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"

	"github.com/earshot/earshot/audio"
)

// codecCases is one synthetic camera per codec, with what a reader must see
// at the default 20 ms packet duration. It feeds the server tests and the
// benchmark.
var codecCases = []struct {
	name string // sentence, used as the subtest name
	spec StreamSpec
	// wantFormat is the format the reader's SDP parsing must produce.
	wantFormat format.Format
	// tsStep is the RTP timestamp increment per 20 ms packet.
	tsStep uint32
	// payloadSize is the exact payload size, or 0 for Opus and AAC
	// (variable).
	payloadSize int
}{
	{
		name:        "opus is announced as opus/48000/2 mono and steps 960 ticks",
		spec:        StreamSpec{Name: "cam-opus", Codec: audio.CodecOpus},
		wantFormat:  &format.Opus{PayloadTyp: 111, ChannelCount: 1},
		tsStep:      960,
		payloadSize: 0,
	},
	{
		name:        "pcma is G.711 A-law 8 kHz with 160-byte payloads",
		spec:        StreamSpec{Name: "cam-pcma", Codec: audio.CodecPCMA},
		wantFormat:  &format.G711{PayloadTyp: 8, MULaw: false, SampleRate: 8000, ChannelCount: 1},
		tsStep:      160,
		payloadSize: 160,
	},
	{
		name:        "pcmu is G.711 mu-law 8 kHz with 160-byte payloads",
		spec:        StreamSpec{Name: "site/cam-pcmu", Codec: audio.CodecPCMU},
		wantFormat:  &format.G711{PayloadTyp: 0, MULaw: true, SampleRate: 8000, ChannelCount: 1},
		tsStep:      160,
		payloadSize: 160,
	},
	{
		name:        "l16 is 16 kHz stereo big-endian with 1280-byte payloads",
		spec:        StreamSpec{Name: "cam-l16", Codec: audio.CodecL16},
		wantFormat:  &format.LPCM{PayloadTyp: 96, BitDepth: 16, SampleRate: 16000, ChannelCount: 2},
		tsStep:      320,
		payloadSize: 1280,
	},
	{
		name: "aac is MPEG4-GENERIC 16 kHz mono, one 1024-sample access unit a packet",
		spec: StreamSpec{Name: "cam-aac", Codec: audio.CodecAAC},
		wantFormat: &format.MPEG4Audio{PayloadTyp: 97, ProfileLevelID: 1, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3,
			Config: &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 16000, ChannelCount: 1}},
		tsStep: 1024,
	},
	{
		name: "aac-latm is MP4A-LATM 48 kHz stereo configured in SDP, one access unit a packet",
		spec: StreamSpec{Name: "cam-aac-latm", Codec: audio.CodecAACLATM},
		wantFormat: &format.MPEG4AudioLATM{PayloadTyp: 98, ProfileLevelID: 30,
			StreamMuxConfig: latmConfig(&mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000, ChannelCount: 2})},
		tsStep: 1024,
	},
	{
		name:        "g722 is 64 kbit/s on an 8 kHz clock with 160-byte payloads",
		spec:        StreamSpec{Name: "cam-g722", Codec: audio.CodecG722},
		wantFormat:  &format.G722{},
		tsStep:      160,
		payloadSize: 160,
	},
	{
		name:        "g726-16 packs 2-bit code words, 40 bytes per 20 ms",
		spec:        StreamSpec{Name: "cam-g726-16", Codec: "g726-16"},
		wantFormat:  &format.G726{PayloadTyp: 99, BitRate: 16},
		tsStep:      160,
		payloadSize: 40,
	},
	{
		name:        "g726-24 packs 3-bit code words, 60 bytes per 20 ms",
		spec:        StreamSpec{Name: "cam-g726-24", Codec: "g726-24"},
		wantFormat:  &format.G726{PayloadTyp: 99, BitRate: 24},
		tsStep:      160,
		payloadSize: 60,
	},
	{
		name:        "g726-32 packs 4-bit code words, 80 bytes per 20 ms",
		spec:        StreamSpec{Name: "cam-g726-32", Codec: "g726-32"},
		wantFormat:  &format.G726{PayloadTyp: 99, BitRate: 32},
		tsStep:      160,
		payloadSize: 80,
	},
	{
		name:        "g726-40 packs 5-bit code words, 100 bytes per 20 ms",
		spec:        StreamSpec{Name: "cam-g726-40", Codec: "g726-40"},
		wantFormat:  &format.G726{PayloadTyp: 99, BitRate: 40},
		tsStep:      160,
		payloadSize: 100,
	},
	{
		name:        "aal2-g726-32 is announced with its AAL2 packing",
		spec:        StreamSpec{Name: "cam-aal2-g726-32", Codec: "aal2-g726-32"},
		wantFormat:  &format.G726{PayloadTyp: 99, BitRate: 32, BigEndian: true},
		tsStep:      160,
		payloadSize: 80,
	},
}

func codecSpecs() []StreamSpec {
	var specs []StreamSpec
	for _, c := range codecCases {
		specs = append(specs, c.spec)
	}
	return specs
}

func startServer(t *testing.T, cfg ServerConfig) *Server {
	t.Helper()
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// arrival is one RTP packet as a reader received it.
type arrival struct {
	pkt *rtp.Packet
	at  time.Time
	// due is when the server's schedule says the packet's audio was
	// captured, from its sender reports; zero if none arrived.
	due time.Time
}

// receive reads n packets of the single-format stream at rawURL over
// transport and returns the announced format and the packets. It gives up
// if they do not all arrive within a generous deadline.
func receive(rawURL string, transport gortsplib.Transport, n int) (format.Format, []arrival, error) {
	u, err := base.ParseURL(rawURL)
	if err != nil {
		return nil, nil, err
	}
	c := gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: &transport}
	if err := c.Start2(); err != nil {
		return nil, nil, fmt.Errorf("client start: %w", err)
	}
	defer c.Close()

	desc, _, err := c.Describe(u)
	if err != nil {
		return nil, nil, fmt.Errorf("describe %s: %w", rawURL, err)
	}
	if len(desc.Medias) != 1 || len(desc.Medias[0].Formats) != 1 {
		return nil, nil, fmt.Errorf("describe %s: got %d medias, want 1 with 1 format", rawURL, len(desc.Medias))
	}
	if desc.Medias[0].Type != description.MediaTypeAudio {
		return nil, nil, fmt.Errorf("media type %q, want audio", desc.Medias[0].Type)
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		return nil, nil, fmt.Errorf("setup: %w", err)
	}

	// The callback runs on the client's reader goroutine and must not
	// block: packets beyond n are dropped (the test has stopped reading).
	ch := make(chan arrival, n)
	c.OnPacketRTPAny(func(_ *description.Media, _ format.Format, pkt *rtp.Packet) {
		select {
		case ch <- arrival{pkt: pkt.Clone(), at: time.Now()}:
		default:
		}
	})
	if _, err := c.Play(nil); err != nil {
		return nil, nil, fmt.Errorf("play: %w", err)
	}

	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	got := make([]arrival, 0, n)
	for len(got) < n {
		select {
		case a := <-ch:
			got = append(got, a)
		case <-deadline.C:
			return nil, nil, fmt.Errorf("received %d packets of %d before the deadline", len(got), n)
		}
	}
	// The latest sender report maps every RTP timestamp of the track.
	for i := range got {
		got[i].due, _ = c.PacketNTP(desc.Medias[0], got[i].pkt)
	}
	return desc.Medias[0].Formats[0], got, nil
}

func TestServerStreamsEveryCodecInRealTime(t *testing.T) {
	// Sender reports every 100 ms, in the encoding gortsplib's client
	// reads, give each packet its due time.
	s := startServer(t, ServerConfig{Streams: codecSpecs(), UDP: true, SenderReportPeriod: 100 * time.Millisecond, GortsplibNTP: true})

	const (
		warmup = 5  // packets not timed: joining may burst
		timed  = 50 // 1 s of audio
	)
	// Every reader at once, each on its own goroutine, so that the whole
	// test lasts about one timed window.
	type result struct {
		f    format.Format
		pkts []arrival
		err  error
	}
	transports := []gortsplib.Transport{gortsplib.TransportTCP, gortsplib.TransportUDP}
	results := make([][]result, len(transports))
	var wg sync.WaitGroup
	for i, transport := range transports {
		results[i] = make([]result, len(codecCases))
		for j, tc := range codecCases {
			wg.Go(func() {
				r := &results[i][j]
				r.f, r.pkts, r.err = receive(s.URL(tc.spec.Name), transport, warmup+timed)
			})
		}
	}
	wg.Wait()

	for i, transport := range transports {
		for j, tc := range codecCases {
			t.Run(transport.String()+"/"+tc.name, func(t *testing.T) {
				f, pkts, err := results[i][j].f, results[i][j].pkts, results[i][j].err
				if err != nil {
					t.Fatal(err)
				}

				if !reflect.DeepEqual(f, tc.wantFormat) {
					t.Fatalf("announced format %#v, want %#v", f, tc.wantFormat)
				}
				for i, a := range pkts {
					p := a.pkt
					if p.PayloadType != f.PayloadType() {
						t.Fatalf("packet %d: payload type %d, want %d", i, p.PayloadType, f.PayloadType())
					}
					checkPayload(t, tc.spec.Codec, tc.payloadSize, i, p.Payload)
					if i == 0 {
						continue
					}
					prev := pkts[i-1].pkt
					if p.SSRC != prev.SSRC {
						t.Fatalf("packet %d: SSRC changed from %08x to %08x", i, prev.SSRC, p.SSRC)
					}
					if p.SequenceNumber != prev.SequenceNumber+1 {
						t.Fatalf("packet %d: sequence number %d after %d", i, p.SequenceNumber, prev.SequenceNumber)
					}
					if step := p.Timestamp - prev.Timestamp; step != tc.tsStep {
						t.Fatalf("packet %d: timestamp advanced by %d, want %d", i, step, tc.tsStep)
					}
				}

				// Real time, against the server's own schedule (its sender
				// reports) rather than the time packets took to arrive,
				// which a loaded host stretches and squeezes: no packet
				// arrives before
				// it is due (less an AAC frame's lead within its round),
				// so the server never runs ahead of real time, even
				// catching up; and none arrives later than the pacer's
				// catch-up bound allows, plus a second for a loaded host
				// to deliver it (TestPacerDue checks the pacing itself).
				if pkts[0].due.IsZero() {
					t.Fatal("no sender report: packets have no due time")
				}
				var latest time.Duration
				for i, a := range pkts[warmup:] {
					late := a.at.Sub(a.due)
					if late < -s.cfg.PacketDuration {
						t.Fatalf("packet %d arrived %v before it was due", warmup+i, -late)
					}
					latest = max(latest, late)
				}
				if latest > maxCatchUp+time.Second {
					t.Errorf("a packet arrived %v after it was due", latest)
				}
				t.Logf("latest packet %v after it was due; %d rounds skipped", latest.Round(time.Millisecond), s.SkippedRounds())

				if tc.spec.Codec == audio.CodecL16 {
					checkL16MatchesClip(t, s.Clip(), pkts)
				}
				if sent := s.PacketsSent(tc.spec.Name); sent < uint64(len(pkts)) {
					t.Errorf("PacketsSent = %d, but %d were received", sent, len(pkts))
				}
			})
		}
	}
}

// checkPayload checks the size (or, for Opus, the framing) of payload i.
func checkPayload(t *testing.T, codec string, size, i int, payload []byte) {
	t.Helper()
	if codec == audio.CodecAAC || codec == audio.CodecAACLATM {
		if len(payload) < 3 || len(payload) > maxRTPPayload {
			t.Fatalf("packet %d: %d-byte AAC payload", i, len(payload))
		}
		return
	}
	if codec != audio.CodecOpus {
		if len(payload) != size {
			t.Fatalf("packet %d: %d-byte payload, want %d", i, len(payload), size)
		}
		return
	}
	if len(payload) < 1 || len(payload) > opusMaxPacket {
		t.Fatalf("packet %d: %d-byte Opus payload", i, len(payload))
	}
	if d, frames := opusTOC(payload[0]); d != 20*time.Millisecond || frames != 1 {
		t.Fatalf("packet %d: Opus TOC %#02x says %d frames of %v, want one of 20ms", i, payload[0], frames, d)
	}
}

// opusTOC decodes an Opus TOC byte (RFC 6716 section 3.1): frame duration,
// and 1 for a single-frame packet (code 0), else 0.
func opusTOC(toc byte) (time.Duration, int) {
	config := int(toc >> 3)
	var d time.Duration
	switch {
	case config < 12: // SILK: 10, 20, 40, 60 ms
		d = []time.Duration{10, 20, 40, 60}[config%4] * time.Millisecond
	case config < 16: // Hybrid: 10, 20 ms
		d = []time.Duration{10, 20}[config%2] * time.Millisecond
	default: // CELT: 2.5, 5, 10, 20 ms
		d = []time.Duration{2500, 5000, 10000, 20000}[config%4] * time.Microsecond
	}
	if toc&3 == 0 {
		return d, 1
	}
	return d, 0
}

// checkL16MatchesClip checks that L16 packets carry the reference clip on
// both channels, consecutive packets playing consecutive 20 ms blocks of the
// looped clip.
func checkL16MatchesClip(t *testing.T, clip []int16, pkts []arrival) {
	t.Helper()
	const frame = 320 // 20 ms at 16 kHz
	blocks := len(clip) / frame
	left := make([][]int16, len(pkts))
	for i, a := range pkts {
		l := make([]int16, frame)
		for j := range frame {
			hi := int16(a.pkt.Payload[4*j])<<8 | int16(a.pkt.Payload[4*j+1])
			r := int16(a.pkt.Payload[4*j+2])<<8 | int16(a.pkt.Payload[4*j+3])
			if hi != r {
				t.Fatalf("packet %d sample %d: left %d != right %d", i, j, hi, r)
			}
			l[j] = hi
		}
		left[i] = l
	}
	for k := range blocks {
		match := true
		for i, l := range left {
			b := (k + i) % blocks
			if !slices.Equal(l, clip[b*frame:(b+1)*frame]) {
				match = false
				break
			}
		}
		if match {
			return
		}
	}
	t.Fatalf("the %d L16 packets are not consecutive 20 ms blocks of the reference clip", len(pkts))
}

func TestServerAnswers404ForUnknownPath(t *testing.T) {
	s := startServer(t, ServerConfig{Streams: []StreamSpec{{Name: "cam", Codec: audio.CodecPCMA}}})
	for _, name := range []string{"nope", "cam/extra", "Cam"} {
		t.Run(name, func(t *testing.T) {
			u, err := base.ParseURL(s.URL(name))
			if err != nil {
				t.Fatal(err)
			}
			c := gortsplib.Client{Scheme: u.Scheme, Host: u.Host}
			if err := c.Start2(); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, _, err = c.Describe(u)
			var bad liberrors.ErrClientBadStatusCode
			if !errors.As(err, &bad) || bad.Code != base.StatusNotFound {
				t.Fatalf("describe %s: error %v, want status 404", u, err)
			}
		})
	}
}

func TestServerLifecycle(t *testing.T) {
	t.Run("closing a server that never started returns promptly", func(t *testing.T) {
		s, err := NewServer(ServerConfig{Streams: codecSpecs()})
		if err != nil {
			t.Fatal(err)
		}
		if s.Addr() != "" || s.URL("cam-pcma") != "" {
			t.Errorf("before Start: Addr %q URL %q, want empty", s.Addr(), s.URL("cam-pcma"))
		}
		s.Close()
		s.Close()
	})
	t.Run("a server starts once, and closes more than once", func(t *testing.T) {
		s, err := NewServer(ServerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		if err := s.Start(); err == nil {
			t.Error("second Start succeeded")
		}
		s.Close()
		s.Close()
		if err := s.Start(); err == nil {
			t.Error("Start after Close succeeded")
		}
	})
	t.Run("starting on a busy address fails and leaves nothing running", func(t *testing.T) {
		a := startServer(t, ServerConfig{})
		b, err := NewServer(ServerConfig{Address: a.Addr(), UDP: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(); err == nil {
			b.Close()
			t.Fatalf("second server on %s started", a.Addr())
		}
	})
	t.Run("URL and Addr name the listening port on loopback", func(t *testing.T) {
		s := startServer(t, ServerConfig{Address: "0.0.0.0:0"})
		_, port, _ := strings.Cut(s.Addr(), ":")
		if want := "rtsp://127.0.0.1:" + port + "/a/b"; s.URL("a/b") != want {
			t.Errorf("URL = %q, want %q (Addr %q)", s.URL("a/b"), want, s.Addr())
		}
	})
	t.Run("PacketsSent of an unknown stream is zero", func(t *testing.T) {
		s := startServer(t, ServerConfig{})
		if n := s.PacketsSent("nope"); n != 0 {
			t.Errorf("PacketsSent = %d", n)
		}
	})
}

func TestServerClipIsWholePackets(t *testing.T) {
	s, err := NewServer(ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	c := s.Clip()
	if len(c) == 0 || len(c)%320 != 0 {
		t.Fatalf("Clip has %d samples, want a positive multiple of 320", len(c))
	}
	if secs := float64(len(c)) / 16000; secs < 4 || secs > 5 {
		t.Errorf("Clip lasts %.2f s, want the 4.6 s speech clip", secs)
	}
	c[0]++
	if s.Clip()[0] == c[0] {
		t.Error("Clip returned the server's own slice")
	}
}

// BenchmarkServerRound measures one pacer round over 1000 streams with no
// readers: the pacer's cost per 20 ms at load-test scale.
func BenchmarkServerRound(b *testing.B) {
	var specs []StreamSpec
	for i := range 1000 {
		c := codecCases[i%len(codecCases)]
		specs = append(specs, StreamSpec{Name: fmt.Sprintf("cam%d", i), Codec: c.spec.Codec})
	}
	s, err := NewServer(ServerConfig{Streams: specs})
	if err != nil {
		b.Fatal(err)
	}
	s.mu.Lock()
	err = s.listen(s.cfg.Address)
	s.mu.Unlock()
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		s.mu.Lock()
		s.unlisten()
		s.mu.Unlock()
	}()
	p := newPacer(time.Now(), s.cfg.PacketDuration)
	b.ReportAllocs()
	r := int64(0)
	for b.Loop() {
		s.sendRound(r, p.roundTime(r))
		r++
	}
}
