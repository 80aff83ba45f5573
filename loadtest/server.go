// Package loadtest provides synthetic RTSP cameras for load and fidelity
// tests of earshot: a Server that serves any number of live audio streams
// (every codec earshot decodes: Opus, G.711, L16 stereo, AAC, G.722, G.726;
// see StreamSpec.Codec) looping a committed speech clip
// in real time, paced by a single goroutine so that it scales to thousands of
// streams.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
)

// Server serves synthetic camera streams over RTSP. Create it with
// NewServer, then Start it; Close stops it. Its methods are safe for
// concurrent use.
//
// Every stream is live from Start: one pacer goroutine sends the next packet
// of every stream each PacketDuration, whether or not anyone is reading, and
// readers DESCRIBE/SETUP/PLAY at any time to join. Each stream loops its
// codec's rendition of the reference clip; RTP sequence numbers and
// timestamps continue across loops from random initial values, and each
// stream has its own random SSRC (assigned by gortsplib). RTCP sender
// reports carry the wall-clock time each packet was due.
type Server struct {
	cfg     ServerConfig
	streams []*stream
	byName  map[string]*stream
	byPath  map[string]*stream // "/" + name; read-only after NewServer
	clip16k []int16            // padded reference clip, one loop period

	skippedRounds atomic.Uint64

	mu     sync.Mutex // guards the fields below
	state  serverState
	rtsp   *gortsplib.Server
	addr   string
	cancel context.CancelFunc
	done   chan struct{} // closed when the pacer goroutine exits
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
	cfg = cfg.withDefaults()
	cfg.Streams = append([]StreamSpec(nil), cfg.Streams...)
	if err := cfg.validate(); err != nil {
		return nil, err
	}

	d := cfg.PacketDuration
	speech16k, err := loadSpeech(speech16kWAV, 16000)
	if err != nil {
		return nil, err
	}
	speech8k, err := loadSpeech(speech8kWAV, 8000)
	if err != nil {
		return nil, err
	}
	speech16k = padToLoop(speech16k, d, 16000)
	speech8k = padToLoop(speech8k, d, 8000)

	s := &Server{
		cfg:     cfg,
		byName:  make(map[string]*stream, len(cfg.Streams)),
		byPath:  make(map[string]*stream, len(cfg.Streams)),
		clip16k: speech16k,
	}
	clips := make(map[string]*clip)
	for _, spec := range cfg.Streams {
		c, ok := clips[spec.Codec]
		if !ok {
			c, err = newClip(spec.Codec, d, speech16k, speech8k)
			if err != nil {
				return nil, err
			}
			clips[spec.Codec] = c
		}
		st := newStream(spec, c)
		s.streams = append(s.streams, st)
		s.byName[spec.Name] = st
		s.byPath["/"+spec.Name] = st
	}
	return s, nil
}

// Start listens on the configured address and starts the pacer. A Server
// can be started once.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateNew {
		return errors.New("loadtest server: already started")
	}

	rs, addr, err := s.listen()
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(context.Background())
	s.rtsp, s.addr, s.cancel = rs, addr, cancel
	s.done = make(chan struct{})
	s.state = stateRunning
	go s.run(ctx, newPacer(time.Now(), s.cfg.PacketDuration))
	return nil
}

// Close stops the pacer, disconnects every reader and closes the listeners,
// and waits for all of it. It may be called more than once, and before
// Start.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateRunning {
		// The pacer first, so that nothing writes to a closed stream; then
		// the streams, which closes their readers' sessions; then the
		// server.
		s.cancel()
		<-s.done
		s.unlisten(s.rtsp)
	}
	s.state = stateClosed
}

// listen starts the gortsplib server and one ServerStream per stream; it
// returns the address it listens on. On error nothing is left running.
func (s *Server) listen() (*gortsplib.Server, string, error) {
	var addr string
	rs := &gortsplib.Server{
		Handler:     &serverHandler{s: s},
		RTSPAddress: s.cfg.Address,
		Listen: func(network, address string) (net.Listener, error) {
			ln, err := net.Listen(network, address)
			if err == nil {
				addr = ln.Addr().String()
			}
			return ln, err
		},
	}
	var udp []net.PacketConn
	if s.cfg.UDP {
		host, _, _ := net.SplitHostPort(s.cfg.Address) // validated by NewServer
		rtpConn, rtcpConn, err := listenUDPPair(host)
		if err != nil {
			return nil, "", err
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
		return nil, "", fmt.Errorf("loadtest server: listen on %s: %w", s.cfg.Address, err)
	}

	for i, st := range s.streams {
		ss := &gortsplib.ServerStream{
			Server: rs,
			Desc:   &description.Session{Medias: []*description.Media{st.media}},
		}
		if err := ss.Initialize(); err != nil {
			for _, st := range s.streams[:i] {
				st.rtsp.Swap(nil).Close()
			}
			rs.Close()
			return nil, "", fmt.Errorf("loadtest server: stream %q: %w", st.spec.Name, err)
		}
		st.rtsp.Store(ss)
	}

	return rs, addr, nil
}

// unlisten closes the ServerStreams, which closes their readers' sessions,
// then the gortsplib server, and waits for them.
func (s *Server) unlisten(rs *gortsplib.Server) {
	for _, st := range s.streams {
		st.rtsp.Swap(nil).Close()
	}
	rs.Close()
}

// Addr returns the host:port the server listens on, or "" before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// URL returns the RTSP URL of the stream called name, with a host a local
// client can dial (127.0.0.1 when listening on all interfaces). It returns ""
// before Start. It does not check that name exists, so that tests can build
// URLs of missing streams.
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
	return "rtsp://" + net.JoinHostPort(host, port) + "/" + name
}

// Clip returns the 16 kHz mono reference audio every stream plays, as one
// loop period: the speech clip followed by the silence that pads it to a
// whole number of packets and of AAC frames (padToLoop). Streams play it
// from the start at Start and repeat it; G.711 and G.726 streams play the
// 8 kHz rendition of the same speech. The returned slice is a copy.
func (s *Server) Clip() []int16 {
	return append([]int16(nil), s.clip16k...)
}

// PacketsSent returns how many packets the stream called name has written
// to gortsplib so far (whether or not anyone was reading), or 0 for an
// unknown name.
func (s *Server) PacketsSent(name string) uint64 {
	st, ok := s.byName[name]
	if !ok {
		return 0
	}
	return st.sent.Load()
}

// SkippedRounds returns how many packet rounds the pacer dropped, for every
// stream, because it fell more than 200 ms behind real time. Non-zero means
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

// sendRound writes the packet of round r, due at ntp, of every stream.
func (s *Server) sendRound(r int64, ntp time.Time) {
	for _, st := range s.streams {
		st.writePacket(r, ntp)
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
