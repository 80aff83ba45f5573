// Package loadtest provides synthetic RTSP cameras for load and fidelity
// tests of earshot: a Server that serves any number of live audio streams
// (every codec earshot decodes: Opus, G.711, L16 stereo, AAC, G.722, G.726;
// see StreamSpec.Codec) looping a committed speech clip
// in real time, paced by a single goroutine so that it scales to thousands of
// streams — and that misbehave on demand, like real cameras do: see Fault.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"

	"github.com/earshot/earshot/audio"
)

// ErrNotRunning is returned by Inject outside Start and Close.
var ErrNotRunning = errors.New("loadtest server: not running")

// Server serves synthetic camera streams over RTSP. Create it with
// NewServer, then Start it; Close stops it. Its methods are safe for
// concurrent use.
//
// Every stream is live from Start: one pacer goroutine sends the next packet
// of every stream each PacketDuration, whether or not anyone is reading, and
// readers DESCRIBE/SETUP/PLAY at any time to join. Each stream loops its
// codec's rendition of the reference clip; RTP sequence numbers and
// timestamps continue across loops from random initial values, and each
// stream has its own random SSRC (assigned by gortsplib). The pacer also
// sends each track's RTCP sender reports, every SenderReportPeriod,
// carrying the wall-clock time each packet was due.
//
// Faults (Inject, ServerConfig.Faults) make streams misbehave; FaultLog
// tells what was applied when.
type Server struct {
	cfg     ServerConfig
	log     *slog.Logger
	streams []*stream
	byName  map[string]*stream
	byPath  map[string]*stream // "/" + name; read-only after NewServer
	clip16k []int16            // padded reference clip, one loop period
	readers *readers

	// Touched by the pacer goroutine only.
	rng      *rand.Rand
	srRounds int64 // rounds between two sender reports of a stream

	skippedRounds atomic.Uint64
	accepts       atomic.Uint64 // RTSP connections accepted
	decoy         decoyHost     // FaultRedirectOtherHost's other host

	mu      sync.Mutex // guards the fields below, and the streams' fault state
	state   serverState
	rtsp    *gortsplib.Server // nil while not listening
	closing chan struct{}     // closed when rtsp starts closing
	addr    string
	cancel  context.CancelFunc
	done    chan struct{} // closed when the pacer goroutine exits
	faults  *faultSchedule
}

type serverState int

const (
	stateNew serverState = iota
	stateRunning
	stateClosed
)

// NewServer validates cfg and pre-encodes the reference clip once for each
// codec in use. It does not listen; see Start. Errors for a rejected config
// wrap ErrInvalidConfig (and audio.ErrUnsupportedCodec for an unknown
// codec).
func NewServer(cfg ServerConfig) (*Server, error) {
	cfg.setDefaults()
	cfg.Streams = append([]StreamSpec(nil), cfg.Streams...)
	if err := cfg.validate(); err != nil {
		return nil, err
	}

	d := cfg.PacketDuration
	speech16k, speech8k, err := referenceSpeech(d)
	if err != nil {
		return nil, err
	}

	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		byName:   make(map[string]*stream, len(cfg.Streams)),
		byPath:   make(map[string]*stream, len(cfg.Streams)),
		clip16k:  speech16k,
		readers:  newReaders(),
		rng:      rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		srRounds: max(1, int64(cfg.SenderReportPeriod/d)),
	}
	clips := make(map[[2]string]*clip)
	clipFor := func(codec, signal string) (*clip, error) {
		if c, ok := clips[[2]string{codec, signal}]; ok {
			return c, nil
		}
		s16, s8 := signalSamples(signal, speech16k, speech8k)
		c, err := newClip(codec, d, s16, s8)
		clips[[2]string{codec, signal}] = c
		return c, err
	}
	for i, spec := range cfg.Streams {
		c, err := clipFor(spec.Codec, spec.Signal)
		if err != nil {
			return nil, err
		}
		alt, err := clipFor(altCodec(spec.Codec), spec.Signal)
		if err != nil {
			return nil, err
		}
		st := newStream(spec, i, c, alt)
		s.streams = append(s.streams, st)
		s.byName[spec.Name] = st
		s.byPath["/"+spec.Name] = st
	}
	for i, f := range cfg.Faults {
		if err := f.validate(&cfg, s.byName); err != nil {
			return nil, fmt.Errorf("%w: Faults[%d]: %w", ErrInvalidConfig, i, err)
		}
	}
	return s, nil
}

// altCodec is the codec FaultSDPChange switches a stream of codec to.
func altCodec(codec string) string {
	if codec == audio.CodecPCMU {
		return audio.CodecPCMA
	}
	return audio.CodecPCMU
}

// Start listens on the configured address, starts the pacer and schedules
// ServerConfig.Faults. A Server can be started once.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateNew {
		return errors.New("loadtest server: already started")
	}

	if err := s.listen(s.cfg.Address); err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.done = make(chan struct{})
	s.state = stateRunning
	go s.run(ctx, newPacer(time.Now(), s.cfg.PacketDuration))
	s.faults = newFaultSchedule(s)
	for _, f := range s.cfg.Faults {
		s.faults.schedule(f)
	}
	return nil
}

// Close ends every fault (see FaultLog), stops the pacer, disconnects every
// reader and closes the listeners, and waits for all of it. It may be
// called more than once, and before Start.
func (s *Server) Close() {
	s.mu.Lock()
	if s.state != stateRunning {
		s.state = stateClosed
		s.mu.Unlock()
		return
	}
	s.state = stateClosed
	// Pending faults first, which lets held requests go; then the pacer, so
	// that nothing writes to a closed stream; then the streams, which
	// closes their readers' sessions; then the server.
	s.faults.stop()
	s.cancel()
	<-s.done
	if s.rtsp != nil {
		s.unlisten()
	}
	s.mu.Unlock()
	s.faults.wait()
	s.decoy.close()
}

// listen starts a gortsplib server on address, and a variant (so a
// ServerStream) for each stream, as their faults call for. On error nothing
// is left running. s.mu must be held.
func (s *Server) listen(address string) error {
	var addr string
	closing := make(chan struct{})
	rs := &gortsplib.Server{
		Handler:                  &serverHandler{s: s, closing: closing},
		RTSPAddress:              address,
		DisableRTCPSenderReports: true, // the pacer sends them
		AuthMethods:              s.cfg.verifyMethods(),
		Listen: func(network, address string) (net.Listener, error) {
			ln, err := net.Listen(network, address)
			if err != nil {
				return nil, err
			}
			addr = ln.Addr().String()
			return &faultListener{Listener: ln, tls: s.cfg.TLS, accepts: &s.accepts}, nil
		},
	}
	var udp []net.PacketConn
	if s.cfg.UDP {
		host, _, _ := net.SplitHostPort(s.cfg.Address) // validated by NewServer
		rtpConn, rtcpConn, err := listenUDPPair(host)
		if err != nil {
			return err
		}
		udp = []net.PacketConn{rtpConn, rtcpConn}
		rs.UDPRTPAddress = rtpConn.LocalAddr().String()
		rs.UDPRTCPAddress = rtcpConn.LocalAddr().String()
		// Hand gortsplib the ports already bound, so no other process can
		// take them between choosing and binding.
		rs.ListenPacket = func(network, address string) (net.PacketConn, error) {
			for _, c := range udp {
				if address == c.LocalAddr().String() {
					return c, nil
				}
			}
			return net.ListenPacket(network, address)
		}
	}
	if err := rs.Start(); err != nil {
		for _, c := range udp {
			c.Close() // gortsplib may or may not have closed them already
		}
		return fmt.Errorf("loadtest server: listen on %s: %w", address, err)
	}

	for i, st := range s.streams {
		v := st.newVariant(variantFor(st.active), s.cfg.PacketDuration)
		if err := v.start(rs); err != nil {
			for _, st := range s.streams[:i] {
				s.hide(st).ss.Close()
			}
			rs.Close()
			return fmt.Errorf("loadtest server: stream %q: %w", st.spec.Name, err)
		}
		st.setVariant(v)
		st.publish(s.cfg.PacketDuration)
	}
	s.rtsp, s.closing, s.addr = rs, closing, addr
	return nil
}

// unlisten hides the streams from the pacer and the handler, closes their
// ServerStreams, which closes their readers' sessions, then the gortsplib
// server, and waits for them. s.mu must be held.
func (s *Server) unlisten() {
	for _, st := range s.streams {
		s.hide(st).ss.Close()
	}
	close(s.closing)
	s.rtsp.Close()
	s.rtsp, s.closing = nil, nil
}

// hide unpublishes st and returns the variant it was serving. s.mu must be
// held.
func (s *Server) hide(st *stream) *variant {
	v := st.v
	st.setVariant(nil)
	st.publish(s.cfg.PacketDuration)
	return v
}

// Accepts returns how many RTSP connections the server has accepted since
// Start, TLS or not.
func (s *Server) Accepts() uint64 { return s.accepts.Load() }

// Decoy returns the other host FaultRedirectOtherHost redirects to, with
// the requests it received; nil until a reader has been redirected there.
func (s *Server) Decoy() *RecordingServer { return s.decoy.get() }

// Addr returns the host:port the server listens on, or "" before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// URL returns the RTSP URL of the stream called name (rtsps:// with
// ServerConfig.TLS), with a host a local client can dial (127.0.0.1 when
// listening on all interfaces), and without credentials. It returns ""
// before Start. It does not check that name exists, so that tests can
// build URLs of missing streams.
func (s *Server) URL(name string) string {
	addr := s.Addr()
	if addr == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	scheme := "rtsp"
	if s.cfg.TLS != nil {
		scheme = "rtsps"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/" + name
}

// URLWithCredentials returns URL(name) with the stream's User and Password
// as userinfo, or URL(name) for a stream without credentials. The result is
// secret: keep it out of logs.
func (s *Server) URLWithCredentials(name string) string {
	raw := s.URL(name)
	st, ok := s.byName[name]
	if raw == "" || !ok || st.spec.User == "" {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.User = url.UserPassword(st.spec.User, st.spec.Password)
	return u.String()
}

// Clip returns the 16 kHz mono reference audio every stream plays, as one
// loop period: the speech clip followed by the silence that pads it to a
// whole number of packets and of AAC frames (padToLoop). Streams play it
// from the start at Start and repeat it; G.711 and G.726 streams play the
// 8 kHz rendition of the same speech. The returned slice is a copy.
func (s *Server) Clip() []int16 {
	return append([]int16(nil), s.clip16k...)
}

// PacketsSent returns how many audio packets the stream called name has
// written to gortsplib so far (whether or not anyone was reading), or 0 for
// an unknown name. Packets withheld or dropped by faults are not counted.
func (s *Server) PacketsSent(name string) uint64 {
	st, ok := s.byName[name]
	if !ok {
		return 0
	}
	return st.sent.Load()
}

// SkippedRounds returns how many packet rounds the pacer dropped, for every
// stream, because it fell more than a second behind real time. Non-zero means
// the host could not keep up and receivers saw timestamp jumps.
func (s *Server) SkippedRounds() uint64 {
	return s.skippedRounds.Load()
}

// run is the pacer goroutine: each tick it sends every round that is due,
// each round being one packet of every stream.
func (s *Server) run(ctx context.Context, p *pacer) {
	defer close(s.done)
	t := time.NewTicker(p.period)
	defer t.Stop()
	for {
		s.tick(p, time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// tick sends the rounds due at now.
func (s *Server) tick(p *pacer, now time.Time) {
	first, end, skipped := p.due(now)
	if skipped > 0 {
		s.skippedRounds.Add(uint64(skipped))
	}
	for r := first; r < end; r++ {
		s.sendRound(r, p.roundTime(r))
	}
}

// sendRound writes the packets of round r, due at ntp, of every stream,
// and the sender reports of the streams whose turn it is: stream i reports
// in the rounds r where r%srRounds == i%srRounds, so that reports spread
// evenly over the rounds.
func (s *Server) sendRound(r int64, ntp time.Time) {
	for _, st := range s.streams {
		st.writePacket(r, ntp, s.rng)
	}
	first := int(r % s.srRounds)
	if first >= len(s.streams) {
		return
	}
	ntp64 := ntpTime(ntp, !s.cfg.GortsplibNTP)
	for i := first; i < len(s.streams); i += int(s.srRounds) {
		s.streams[i].writeSenderReports(r, ntp64)
	}
}

// listenUDPPair binds an even RTP port and the next (odd) RTCP port on host,
// as RTSP over UDP requires.
func listenUDPPair(host string) (rtpConn, rtcpConn net.PacketConn, err error) {
	const attempts = 100
	for range attempts {
		c, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, nil, fmt.Errorf("loadtest server: listen udp: %w", err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		// Pair c with its neighbour: the port above if c's is even, below
		// if odd.
		other := port + 1
		if port%2 == 1 {
			other = port - 1
		}
		o, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(other)))
		if err != nil {
			c.Close()
			continue
		}
		if port%2 == 0 {
			return c, o, nil
		}
		return o, c, nil
	}
	return nil, nil, fmt.Errorf("loadtest server: no free even/odd UDP port pair on %q after %d attempts", host, attempts)
}
