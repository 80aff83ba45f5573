package main

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/earshot/earshot/ingest"
)

// consoleFiles are the console's page, scripts and styles: plain ES
// modules, no build step.
//
//go:embed console
var consoleFiles embed.FS

// Console limits.
const (
	ticketTTL      = 10 * time.Second // a WebSocket ticket is redeemed within this
	maxTickets     = 1024             // outstanding tickets; more are refused
	levelPeriod    = 200 * time.Millisecond
	maxVisible     = 1000 // stream ids one levels socket may watch
	wsWriteTimeout = 5 * time.Second
	wsProtocol     = "earshot.v1"
	ticketPrefix   = "ticket."
)

// consoleCSP allows only the console's own files and same-origin
// connections: no inline script or style, no other origin.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// consoleSource is what the console reads: the ingest supervisor.
type consoleSource interface {
	Stats() []ingest.StreamStats
	Events(id string) ([]ingest.Event, error)
	Level(id string) (l ingest.Level, silent, ok bool)
	Listen(id string) (*ingest.Listener, error)
}

// console serves /console on the admin listener: the page, a compact
// stream list, the per-stream events, and two WebSockets (levels of the
// visible streams, and listen-in). Its WebSocket handlers run on the HTTP
// server's goroutines; Close ends them, since http.Server.Shutdown does
// not wait for hijacked connections.
type console struct {
	src     consoleSource
	token   string
	log     *slog.Logger
	tickets tickets
	fleet   *consoleFleet // nil unless fleet mode; set before the handler serves

	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func newConsole(token string, src consoleSource, log *slog.Logger) *console {
	ctx, cancel := context.WithCancel(context.Background())
	return &console{src: src, token: token, log: log, ctx: ctx, cancel: cancel, tickets: tickets{m: make(map[string]time.Time)}}
}

// Close ends the WebSockets and waits for their handlers.
func (c *console) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	if c.fleet != nil {
		c.fleet.close()
	}
}

// Handler serves /console and /console/…. Without a token it answers
// loopback clients only, as the admin API is meant to be.
func (c *console) Handler() http.Handler {
	static, _ := fs.Sub(consoleFiles, "console")
	files := http.FileServerFS(static)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, static, "index.html")
	})
	mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", files))
	mux.Handle("POST /console/api/ticket", requireToken(c.token, http.HandlerFunc(c.issueTicket)))
	mux.Handle("GET /console/api/streams", requireToken(c.token, http.HandlerFunc(c.streams)))
	mux.Handle("GET /console/api/streams/{id}/events", requireToken(c.token, http.HandlerFunc(c.events)))
	mux.HandleFunc("GET /console/ws/levels", c.levelsSocket)
	mux.HandleFunc("GET /console/ws/listen/{id}", c.listenSocket)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", consoleCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		if c.token == "" && !loopbackRemote(r) {
			http.Error(w, "the console answers loopback clients only unless admin.token is set", http.StatusForbidden)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func loopbackRemote(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	ip := net.ParseIP(host)
	return err == nil && ip != nil && ip.IsLoopback()
}

// consoleStream is one row of the console's table.
type consoleStream struct {
	ID        string        `json:"id"`
	State     ingest.State  `json:"state"`
	Since     int64         `json:"since_ms"` // Unix ms the state began
	Codec     string        `json:"codec,omitempty"`
	LastError string        `json:"last_error,omitempty"`
	Stall     *ingest.Stall `json:"stall,omitempty"`
	Silent    bool          `json:"silent,omitempty"`
	Gaps      int           `json:"gaps_1h"`
	Stalls    int           `json:"stalls_1h"`
	Owner     string        `json:"owner,omitempty"` // the instance that runs it, in fleet mode
}

// streams answers the table's rows: this instance's streams and, in fleet
// mode, every other stream of the fleet with its owner.
func (c *console) streams(w http.ResponseWriter, r *http.Request) {
	stats := c.src.Stats()
	rows := make([]consoleStream, len(stats))
	local := make(map[string]bool, len(stats))
	for i, s := range stats {
		rows[i] = consoleStream{ID: s.ID, State: s.State, Since: s.StateSince.UnixMilli(), Codec: s.Codec, LastError: s.LastError,
			Stall: s.Stall, Silent: s.Silent, Gaps: s.GapsLastHour, Stalls: s.StallsLastHour}
		local[s.ID] = true
	}
	body := map[string]any{"server_time_ms": time.Now().UnixMilli()}
	if fl := c.fleetFor(r); fl != nil {
		for i := range rows {
			rows[i].Owner = fl.self
		}
		rows = append(rows, fl.rowsOf(r.Context(), local)...)
		body["instance"] = fl.self
	}
	body["streams"] = rows
	writeConsoleJSON(w, body)
}

// events answers a stream's last hour, from its owner in fleet mode.
func (c *console) events(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ev, err := c.src.Events(id)
	if fl := c.fleetFor(r); err != nil && fl != nil && errors.Is(err, ingest.ErrUnknownStream) {
		remote, ferr := fl.events(r.Context(), id)
		if ferr == nil {
			writeConsoleJSON(w, map[string]any{"events": remote})
			return
		}
		err = ferr
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	writeConsoleJSON(w, map[string]any{"events": ev})
}

func writeConsoleJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// issueTicket answers an authenticated POST with a ticket that opens one
// WebSocket within ticketTTL. Browsers cannot set headers on a WebSocket,
// and the token must stay out of URLs: the page sends the ticket as a
// subprotocol instead.
func (c *console) issueTicket(w http.ResponseWriter, _ *http.Request) {
	t, err := c.tickets.issue(time.Now())
	if err != nil {
		http.Error(w, err.Error(), http.StatusTooManyRequests)
		return
	}
	writeConsoleJSON(w, map[string]any{"ticket": t, "expires_in_ms": ticketTTL.Milliseconds(), "server_time_ms": time.Now().UnixMilli()})
}

// tickets are the WebSocket tickets issued and not yet redeemed.
type tickets struct {
	mu sync.Mutex
	m  map[string]time.Time // expiry
}

var errTooManyTickets = errors.New("too many WebSocket tickets outstanding")

func (t *tickets) issue(now time.Time) (string, error) {
	var b [24]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, exp := range t.m {
		if now.After(exp) {
			delete(t.m, k)
		}
	}
	if len(t.m) >= maxTickets {
		return "", errTooManyTickets
	}
	t.m[id] = now.Add(ticketTTL)
	return id, nil
}

// redeem consumes a ticket: true if it was issued and has not expired.
func (t *tickets) redeem(id string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	exp, ok := t.m[id]
	delete(t.m, id)
	return ok && !now.After(exp)
}

// admit redeems the ticket r offers as a subprotocol; without a valid one
// it answers 401 and returns false. It runs before anything else a
// WebSocket handler does, so that a client without a ticket learns
// nothing, not even which streams exist.
func (c *console) admit(w http.ResponseWriter, r *http.Request) bool {
	ticket := ""
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(v, ",") {
			if t, found := strings.CutPrefix(strings.TrimSpace(p), ticketPrefix); found {
				ticket = t
			}
		}
	}
	if ticket == "" || !c.tickets.redeem(ticket, time.Now()) {
		http.Error(w, "a WebSocket needs a ticket from POST /console/api/ticket", http.StatusUnauthorized)
		return false
	}
	return true
}

// accept upgrades an admitted request to a WebSocket and registers the
// handler with Close; done must be called when it returns.
func (c *console) accept(w http.ResponseWriter, r *http.Request) (conn *websocket.Conn, ctx context.Context, done func(), ok bool) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return nil, nil, nil, false
	}
	c.wg.Add(1)
	c.mu.Unlock()
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{wsProtocol}})
	if err != nil {
		c.wg.Done()
		return nil, nil, nil, false // Accept wrote the response
	}
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(c.ctx, cancel)
	return conn, ctx, func() {
		stop()
		cancel()
		conn.CloseNow()
		c.wg.Done()
	}, true
}

// levelsSocket sends, every levelPeriod, the level of the streams the page
// says are visible: {"t": ms, "levels": [[id, rms, peak, silent], …]}.
// The page sends {"visible": [id, …]} whenever what it shows changes.
func (c *console) levelsSocket(w http.ResponseWriter, r *http.Request) {
	if !c.admit(w, r) {
		return
	}
	conn, ctx, done, ok := c.accept(w, r)
	if !ok {
		return
	}
	defer done()
	conn.SetReadLimit(64 << 10)
	var mu sync.Mutex
	var visible []string
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	readEach(ctx, cancel, &wg, conn, func(_ websocket.MessageType, b []byte) {
		var m struct {
			Visible []string `json:"visible"`
		}
		if json.Unmarshal(b, &m) != nil {
			return
		}
		if len(m.Visible) > maxVisible {
			m.Visible = m.Visible[:maxVisible]
		}
		mu.Lock()
		visible = m.Visible
		mu.Unlock()
	})
	fl := c.fleetFor(r)
	peers := make(map[string]*peerLevels) // admin URL of another instance -> its levels
	t := time.NewTicker(levelPeriod)
	defer t.Stop()
	type out struct {
		T      int64   `json:"t"`
		Levels [][]any `json:"levels"`
	}
	for {
		select {
		case <-ctx.Done():
			conn.Close(websocket.StatusGoingAway, "")
			return
		case now := <-t.C:
			mu.Lock()
			ids := visible
			mu.Unlock()
			m := out{T: now.UnixMilli(), Levels: make([][]any, 0, len(ids))}
			remote := make(map[string][]string) // admin URL -> ids
			for _, id := range ids {
				if l, silent, ok := c.src.Level(id); ok {
					m.Levels = append(m.Levels, []any{id, l.RMS, l.Peak, silent})
				} else if fl != nil {
					if _, base, err := fl.owner(id); err == nil {
						remote[base] = append(remote[base], id)
					}
				}
			}
			for base, rids := range remote {
				p := peers[base]
				if p == nil {
					p = newPeerLevels()
					peers[base] = p
					wg.Go(func() { p.run(ctx, fl, base) })
				}
				p.show(rids)
				for _, id := range rids {
					if l, ok := p.level(id, now); ok {
						m.Levels = append(m.Levels, l)
					}
				}
			}
			b, _ := json.Marshal(m)
			wctx, wcancel := context.WithTimeout(ctx, wsWriteTimeout)
			err := conn.Write(wctx, websocket.MessageText, b)
			wcancel()
			if err != nil {
				return
			}
		}
	}
}

// listenSocket streams one stream's audio: first a text message
// {"rate": 16000, "server_time_ms": …}, then binary messages of an 8-byte
// little-endian float64 (the RTP arrival of the audio, Unix ms) followed
// by mono s16le PCM, 20 ms at most; every second a text message
// {"dropped": n} with the frames dropped so far for this listener. When
// the socket backs up the listener's queue (0.5 s) fills and frames are
// dropped, never queued further.
func (c *console) listenSocket(w http.ResponseWriter, r *http.Request) {
	if !c.admit(w, r) {
		return
	}
	id := r.PathValue("id")
	l, err := c.src.Listen(id)
	if fl := c.fleetFor(r); err != nil && fl != nil && errors.Is(err, ingest.ErrUnknownStream) {
		c.listenRemote(w, r, fl, id)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	defer l.Close()
	conn, ctx, done, ok := c.accept(w, r)
	if !ok {
		return
	}
	defer done()
	ctx = conn.CloseRead(ctx) // the page sends nothing; this handles its close
	write := func(typ websocket.MessageType, b []byte) error { return c.write(ctx, conn, typ, b) }
	hello, _ := json.Marshal(map[string]any{"rate": l.SampleRate(), "server_time_ms": time.Now().UnixMilli()})
	if write(websocket.MessageText, hello) != nil {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var reported uint64
	buf := make([]byte, 0, 8+640)
	for {
		select {
		case <-ctx.Done():
			conn.Close(websocket.StatusGoingAway, "")
			return
		case <-l.Done():
			conn.Close(websocket.StatusNormalClosure, "stream stopped")
			return
		case <-t.C:
			if n := l.Dropped(); n != reported {
				reported = n
				b, _ := json.Marshal(map[string]uint64{"dropped": n})
				if write(websocket.MessageText, b) != nil {
					return
				}
			}
		case f := <-l.Frames():
			buf = binary.LittleEndian.AppendUint64(buf[:0], math.Float64bits(float64(f.Arrival.UnixMicro())/1000))
			buf = append(buf, f.PCM...)
			if write(websocket.MessageBinary, buf) != nil {
				return
			}
		}
	}
}

// localOnly is the query of the console's requests to other instances: it
// asks for what that instance runs, never relayed again (two instances
// whose views disagree during a hand-over would relay to each other).
const localOnly = "local=1"

// fleetFor returns the console's reach into the fleet for request r, nil
// in a single instance or when another instance asks (localOnly).
func (c *console) fleetFor(r *http.Request) *consoleFleet {
	if r.URL.RawQuery == localOnly {
		return nil
	}
	return c.fleet
}

// listenRemote serves the listen-in socket of stream id, which another
// instance of the fleet runs: it opens the owner's listen-in socket first
// (502 if that fails), then relays it.
func (c *console) listenRemote(w http.ResponseWriter, r *http.Request, fl *consoleFleet, id string) {
	_, base, err := fl.owner(id)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	up, err := fl.dial(r.Context(), base, "/console/ws/listen/"+url.PathEscape(id)+"?"+localOnly)
	if err != nil {
		c.log.Warn("console: listen-in through the owner", "stream", id, "err", err)
		http.Error(w, "the stream's owner refused listen-in: "+err.Error(), http.StatusBadGateway)
		return
	}
	c.relay(w, r, up)
}

// relay accepts r's WebSocket and relays up, another instance's listen-in
// socket, to it; it closes up.
func (c *console) relay(w http.ResponseWriter, r *http.Request, up *websocket.Conn) {
	conn, ctx, done, ok := c.accept(w, r)
	if !ok {
		up.CloseNow()
		return
	}
	defer done()
	c.proxyListen(conn.CloseRead(ctx), conn, up)
}

// readEach reads the messages of conn on a goroutine of wg and passes
// each to fn, until a read fails; then it cancels.
func readEach(ctx context.Context, cancel context.CancelFunc, wg *sync.WaitGroup, conn *websocket.Conn, fn func(websocket.MessageType, []byte)) {
	wg.Go(func() {
		defer cancel()
		for {
			typ, b, err := conn.Read(ctx)
			if err != nil {
				return
			}
			fn(typ, b)
		}
	})
}

// write writes one message to conn within wsWriteTimeout.
func (c *console) write(ctx context.Context, conn *websocket.Conn, typ websocket.MessageType, b []byte) error {
	wctx, cancel := context.WithTimeout(ctx, wsWriteTimeout)
	defer cancel()
	return conn.Write(wctx, typ, b)
}
