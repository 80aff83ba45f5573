package sink

import (
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/twmb/franz-go/pkg/kfake"
)

// EmbeddedBroker is an in-process, in-memory Kafka broker (kfake, which
// speaks the real protocol over TCP) on 127.0.0.1, for demos and tests:
// nothing is persisted. SetReachable simulates an outage: the broker keeps
// its data but refuses connections.
type EmbeddedBroker struct {
	cluster *kfake.Cluster
	ln      *gatedListener
}

// StartEmbeddedBroker starts an EmbeddedBroker with topic created with the
// given number of partitions; topics are not created on demand. It returns
// the broker's host:port and a function that stops it; clients should be
// closed first.
func StartEmbeddedBroker(topic string, partitions int) (addr string, stop func(), err error) {
	b, err := NewEmbeddedBroker(topic, partitions)
	if err != nil {
		return "", nil, err
	}
	return b.Addr(), b.Close, nil
}

// NewEmbeddedBroker starts a broker at a free port of 127.0.0.1 with topic
// created with the given number of partitions. opts are passed to kfake
// (TLS, SASL, broker configs...).
func NewEmbeddedBroker(topic string, partitions int, opts ...kfake.Opt) (*EmbeddedBroker, error) {
	if err := checkTopic(topic); err != nil {
		return nil, fmt.Errorf("sink: embedded broker: topic %q: %w", topic, err)
	}
	if partitions < 1 || partitions > 1<<16 {
		return nil, fmt.Errorf("sink: embedded broker: partitions must be 1 to 65536, got %d", partitions)
	}
	ln, err := newGatedListener()
	if err != nil {
		return nil, fmt.Errorf("sink: embedded broker: %w", err)
	}
	c, err := kfake.NewCluster(append([]kfake.Opt{
		kfake.NumBrokers(1),
		kfake.SeedTopics(int32(partitions), topic),
		kfake.ListenFn(func(string, string) (net.Listener, error) { return ln, nil }),
	}, opts...)...)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("sink: embedded broker: %w", err)
	}
	if len(c.ListenAddrs()) != 1 {
		c.Close()
		return nil, errors.New("sink: embedded broker: no listen address")
	}
	return &EmbeddedBroker{cluster: c, ln: ln}, nil
}

// Addr is the broker's host:port.
func (b *EmbeddedBroker) Addr() string { return b.ln.Addr().String() }

// Cluster is the kfake cluster, for tests that intercept requests.
func (b *EmbeddedBroker) Cluster() *kfake.Cluster { return b.cluster }

// SetReachable makes the broker unreachable (false): it stops listening, so
// connections are refused, and closes the open ones; or reachable again on
// the same port (true). Its data is kept.
func (b *EmbeddedBroker) SetReachable(up bool) error { return b.ln.setUp(up) }

// Close stops the broker.
func (b *EmbeddedBroker) Close() { b.cluster.Close() }

// gatedListener is a TCP listener on a fixed 127.0.0.1 port that can stop
// listening and start again, with kfake's accept loop waiting in between.
type gatedListener struct {
	addr *net.TCPAddr

	mu     sync.Mutex
	ln     net.Listener // nil while down
	conns  map[net.Conn]struct{}
	up     chan struct{} // closed while up
	closed chan struct{} // closed by Close
	once   sync.Once
}

func newGatedListener() (*gatedListener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	up := make(chan struct{})
	close(up)
	return &gatedListener{addr: ln.Addr().(*net.TCPAddr), ln: ln, conns: make(map[net.Conn]struct{}), up: up, closed: make(chan struct{})}, nil
}

func (l *gatedListener) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		ln, up := l.ln, l.up
		l.mu.Unlock()
		select {
		case <-l.closed:
			return nil, net.ErrClosed
		case <-up:
		}
		if ln == nil {
			continue
		}
		c, err := ln.Accept()
		if err != nil {
			select {
			case <-l.closed:
				return nil, net.ErrClosed
			default:
			}
			l.mu.Lock()
			same := l.ln == ln
			l.mu.Unlock()
			if same {
				return nil, err
			}
			continue // taken down: wait for it to come back
		}
		l.mu.Lock()
		if l.ln != ln {
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.conns[c] = struct{}{}
		l.mu.Unlock()
		return &gatedConn{Conn: c, l: l}, nil
	}
}

func (l *gatedListener) setUp(up bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case up && l.ln == nil:
		ln, err := net.ListenTCP("tcp", l.addr)
		if err != nil {
			return fmt.Errorf("sink: embedded broker: listen again on %s: %w", l.addr, err)
		}
		l.ln = ln
		close(l.up)
	case !up && l.ln != nil:
		l.ln.Close()
		l.ln = nil
		l.up = make(chan struct{})
		for c := range l.conns {
			c.Close()
		}
		clear(l.conns)
	}
	return nil
}

func (l *gatedListener) Close() error {
	l.once.Do(func() {
		close(l.closed)
		l.mu.Lock()
		if l.ln != nil {
			l.ln.Close()
		}
		l.mu.Unlock()
	})
	return nil
}

func (l *gatedListener) Addr() net.Addr { return l.addr }

// gatedConn forgets itself when closed.
type gatedConn struct {
	net.Conn
	l *gatedListener
}

func (c *gatedConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c.Conn)
	c.l.mu.Unlock()
	return c.Conn.Close()
}
