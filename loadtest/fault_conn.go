package loadtest

import (
	"crypto/tls"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
)

// faultListener accepts the RTSP connections the gortsplib server serves.
// It terminates TLS itself when configured, rather than leaving it to
// gortsplib, so that faultConn sees plain RTSP framing (and so that RTSPS
// readers get RTP/AVP inside the TLS connection, as from most cameras,
// instead of gortsplib's SRTP).
type faultListener struct {
	net.Listener
	tls     *tls.Config    // nil: plain RTSP
	accepts *atomic.Uint64 // counts accepted connections
}

// Accept implements net.Listener. The TLS handshake happens on the
// connection's first read, on gortsplib's reader goroutine.
func (l *faultListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.accepts.Add(1)
	fc := &faultConn{Conn: c}
	fc.raw, _ = c.(*net.TCPConn)
	if l.tls != nil {
		fc.Conn = tls.Server(c, l.tls)
	}
	return fc, nil
}

// faultConn is an RTSP connection as gortsplib sees it. It applies the
// faults that act on bytes: FaultGarbage and the SSRC rewrite of
// FaultSSRCChange on what the server writes, and FaultTCPReset.
//
// gortsplib writes each response and each interleaved frame with one Write
// call, from the connection's goroutine (responses) and the session's
// writer goroutine (frames), so a Write is always one whole message.
type faultConn struct {
	net.Conn              // plain or TLS
	raw      *net.TCPConn // underneath TLS; nil if not TCP

	// stream is the stream the connection last asked for (DESCRIBE or
	// SETUP), or nil. Set by the RTSP handler.
	stream atomic.Pointer[stream]

	mu      sync.Mutex // guards scratch
	scratch []byte
}

// Write implements net.Conn. Without a byte-level fault on its stream it
// costs three atomic loads.
func (c *faultConn) Write(p []byte) (int, error) {
	st := c.stream.Load()
	if st == nil || len(p) < 4 || p[0] != '$' {
		return c.Conn.Write(p)
	}
	v := st.cur.Load()
	if v == nil {
		return c.Conn.Write(p)
	}
	e := v.effects.Load()
	if e == nil || e.ssrcTo == 0 && !e.faults().garbage {
		return c.Conn.Write(p)
	}
	return c.writeFaulted(p, e)
}

// writeFaulted writes the interleaved frame p with its SSRC rewritten
// and/or followed by garbage, in one write so that nothing else lands
// inside.
func (c *faultConn) writeFaulted(p []byte, e *effects) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := append(c.scratch[:0], p...)
	if e.ssrcTo != 0 {
		if i := ssrcOffset(b[4:]); i >= 0 && binary.BigEndian.Uint32(b[4+i:]) == e.ssrcFrom {
			binary.BigEndian.PutUint32(b[4+i:], e.ssrcTo)
		}
	}
	if e.faults().garbage {
		b = appendGarbage(b)
	}
	c.scratch = b
	n, err := c.Conn.Write(b)
	return min(n, len(p)), err
}

// reset aborts the connection with a TCP RST: SO_LINGER 0, then close the
// socket under any TLS layer, so the peer sees ECONNRESET rather than an
// orderly shutdown.
func (c *faultConn) reset() {
	if c.raw == nil {
		c.Conn.Close()
		return
	}
	_ = c.raw.SetLinger(0)
	c.raw.Close()
}

// ssrcOffset returns where the sender SSRC of the RTP packet or RTCP
// sender report pkt is, or -1 for other RTCP packets and short packets.
// RTCP packet types 200-204 never collide with the second byte of an RTP
// packet here: that would take a payload type of 72-76 with the marker bit.
func ssrcOffset(pkt []byte) int {
	switch {
	case len(pkt) < 8 || pkt[0]>>6 != 2:
		return -1
	case pkt[1] == 200: // sender report
		return 4
	case pkt[1] >= 201 && pkt[1] <= 204, len(pkt) < 12:
		return -1
	}
	return 8
}

// appendGarbage appends 1 to 16 random bytes to b, none of them '$' or an
// ASCII capital letter, so that they cannot be taken for the start of an
// interleaved frame or of an RTSP message.
func appendGarbage(b []byte) []byte {
	for range 1 + rand.IntN(16) {
		g := byte(rand.Uint32())
		if g == '$' || 'A' <= g && g <= 'Z' {
			g |= 0x80
		}
		b = append(b, g)
	}
	return b
}
