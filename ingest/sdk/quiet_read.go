package sdk

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// quietLowat is the SO_RCVLOWAT of a coalescing connection's socket
// between its reads: while gortsplib's reader sleeps out its coalescing
// wait, the kernel does not signal the socket readable for each packet
// that arrives (it signals once quietLowat bytes are queued, 16 KiB: a
// second of G.711, a fifth of one of 48 kHz stereo L16). Each such signal
// woke the runtime's network poller, and so a thread, for a socket no
// goroutine was waiting on: at 100 streams, one wake-up per packet,
// ~5,000 per second (docs/performance.md, part 13). A read still returns
// whatever is queued, however little: the low-water mark only gates the
// readiness signal. The kernel may raise the socket's receive-buffer limit
// so that 16 KiB of small segments fit (tcp_set_rcvlowat): a limit, not
// memory held.
const quietLowat = 16 << 10

// quietReader reads a TCP connection with its socket's low-water mark
// raised between reads, and lowered to one byte whenever a read has to
// wait for data, so that the wait ends with the first byte as before.
// Only the reader goroutine of the connection uses it.
type quietReader struct {
	raw   syscall.RawConn
	conn  net.Conn // for the addresses of errors
	quiet bool     // the mark is quietLowat, not 1
	off   bool     // setting the mark failed: plain reads from now on
}

// newQuietReader returns a quietReader for c, or nil when c is not a
// socket (a test's or a wrapper's connection).
func newQuietReader(c net.Conn) *quietReader {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return &quietReader{raw: raw, conn: c}
}

// read reads into p as net.Conn's Read does (deadlines included),
// setting the mark as the type says.
func (q *quietReader) read(p []byte) (int, error) {
	if q.off {
		return q.conn.Read(p)
	}
	var (
		n    int
		rerr error
	)
	err := q.raw.Read(func(fd uintptr) bool {
		for {
			n, rerr = unix.Read(int(fd), p)
			if rerr != unix.EINTR {
				break
			}
		}
		if rerr == unix.EAGAIN {
			if q.quiet { // wait for the first byte, not for quietLowat
				if err := q.setMark(fd, 1); err != nil {
					// Waiting now would wait for quietLowat bytes: end
					// the connection rather than stall it.
					n, rerr = 0, err
					return true
				}
			}
			return false // the runtime waits for readability, then calls again
		}
		if rerr == nil && n > 0 && !q.quiet {
			q.setMark(fd, quietLowat) //nolint:errcheck // a failure turns q off; the mark is still 1
		}
		return true
	})
	n = max(n, 0)
	switch {
	case err != nil:
		return n, q.opError(err)
	case rerr != nil:
		var se *os.SyscallError
		if !errors.As(rerr, &se) {
			rerr = os.NewSyscallError("read", rerr)
		}
		return n, q.opError(rerr)
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, nil
}

// setMark sets the socket's SO_RCVLOWAT; a failure turns q off (plain
// reads from then on) and is returned.
func (q *quietReader) setMark(fd uintptr, v int) error {
	if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVLOWAT, v); err != nil {
		q.off = true
		return os.NewSyscallError("setsockopt SO_RCVLOWAT", err)
	}
	q.quiet = v > 1
	return nil
}

// opError wraps err as net.TCPConn's Read does, so that callers that test
// for timeouts or a closed connection see what they would have.
func (q *quietReader) opError(err error) error {
	if oe := (*net.OpError)(nil); errors.As(err, &oe) { // "raw-read" from RawConn
		err = oe.Err
	}
	return &net.OpError{Op: "read", Net: "tcp", Source: q.conn.LocalAddr(), Addr: q.conn.RemoteAddr(), Err: err}
}
