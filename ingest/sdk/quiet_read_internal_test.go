package sdk

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		client.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// lowat reads c's SO_RCVLOWAT.
func lowat(t *testing.T, c net.Conn) int {
	t.Helper()
	raw, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := raw.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVLOWAT) }); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	return v
}

// TestQuietReaderRaisesTheMarkBetweenReadsAndWaitsForOneByte: after a
// read the socket's low-water mark is quietLowat, so packets queued
// meanwhile do not signal it; a read that must wait lowers it to one
// byte and returns that byte, not quietLowat of them; the bytes arrive
// intact and the end is io.EOF.
func TestQuietReaderRaisesTheMarkBetweenReadsAndWaitsForOneByte(t *testing.T) {
	client, server := tcpPair(t)
	q := newQuietReader(client)
	if q == nil {
		t.Fatal("no quiet reader for a TCP connection")
	}
	buf := make([]byte, 4096)

	// A read of what is queued, however little, raises the mark.
	if _, err := server.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for len(got) < 3 {
		n, err := q.read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != "abc" {
		t.Fatalf("read %q, want abc", got)
	}
	if m := lowat(t, client); m != quietLowat {
		t.Fatalf("mark after a read = %d, want %d", m, quietLowat)
	}

	// A read that waits: the writer writes one byte once the mark is
	// down to 1; the read returns it.
	done := make(chan error, 1)
	go func() {
		client.SetReadDeadline(time.Now().Add(20 * time.Second))
		n, err := q.read(buf)
		if err == nil && (n != 1 || buf[0] != 'x') {
			err = errors.New("read " + string(buf[:n]) + ", want x")
		}
		done <- err
	}()
	for lowat(t, client) != 1 {
		select {
		case err := <-done:
			t.Fatalf("the read returned before any byte was written: %v", err)
		default:
			runtime.Gosched()
		}
	}
	if _, err := server.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("waiting read: %v", err)
	}
	if m := lowat(t, client); m != quietLowat {
		t.Fatalf("mark after the waiting read = %d, want %d", m, quietLowat)
	}

	// A deadline is a timeout, as net.Conn's; the peer's close is io.EOF.
	client.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := q.read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	} else if oe, ok := err.(*net.OpError); !ok || !oe.Timeout() || oe.Op != "read" {
		t.Fatalf("read past the deadline: %T %v is not net.Conn's read timeout", err, err)
	}
	client.SetReadDeadline(time.Time{})
	server.Close()
	if n, err := q.read(buf); n != 0 || err != io.EOF {
		t.Fatalf("read after the peer's close = %d, %v; want 0, EOF", n, err)
	}
}

// TestQuietReaderIsForSocketsOnly: a connection that is not a socket
// (net.Pipe, a test's wrapper) is read as it is.
func TestQuietReaderIsForSocketsOnly(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if q := newQuietReader(a); q != nil {
		t.Fatal("a quiet reader for net.Pipe")
	}
}
