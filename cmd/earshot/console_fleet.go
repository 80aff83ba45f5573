package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/earshot/earshot/ingest/fleet"
)

// Limits of the console's calls to the other instances of a fleet.
const (
	peerTimeout   = 3 * time.Second  // one HTTP request or WebSocket dial to another instance
	peerRowsTTL   = time.Second      // rows of another instance are fetched again after this
	peerStaleRows = 10 * time.Second // rows older than this are not shown
	peerMaxBody   = 32 << 20         // bytes of one answer of another instance
	peerRetry     = time.Second      // pause before a levels socket to another instance is dialled again
	peerLevelsTTL = 3 * levelPeriod  // a level from another instance older than this is not shown
	proxyQueue    = 25               // frames (of at most 20 ms): 0.5 s per proxied listener, as on the owner
	proxyReadSize = 64 << 10         // bytes of one message from the owner
)

// fleetView is what the console reads of the fleet: the member's View.
type fleetView interface {
	Streams() []fleet.APIStream
	Stream(id string) (fleet.APIStream, fleet.Status, bool)
}

// consoleFleet is the console's reach into the other instances of a
// fleet: their streams' rows, levels, events and audio, fetched from the
// owner's console at its advertised admin URL (fleet.advertise, from the
// status topic) with the fleet-wide admin token in the Authorization
// header. The token is never in a URL or a log.
type consoleFleet struct {
	view   fleetView
	self   string // this instance's id
	token  string
	client *http.Client
	log    *slog.Logger

	mu      sync.Mutex
	rows    map[string]peerRows // instance -> its rows, as last fetched
	failing map[string]bool     // instances whose last fetch failed: logged once
}

type peerRows struct {
	at   time.Time
	rows map[string]consoleStream
}

func newConsoleFleet(view fleetView, self, token string, log *slog.Logger) *consoleFleet {
	return &consoleFleet{view: view, self: self, token: token, log: log, rows: make(map[string]peerRows), failing: make(map[string]bool),
		client: &http.Client{Transport: &http.Transport{}, Timeout: peerTimeout,
			// The token goes to the advertised URL only, never elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// close closes the idle connections to other instances.
func (f *consoleFleet) close() { f.client.CloseIdleConnections() }

// errNoOwner: the stream has no owner this instance can reach.
var errNoOwner = errors.New("stream not reachable")

// owner returns the advertised admin URL of the instance that runs stream
// id, when that is another instance.
func (f *consoleFleet) owner(id string) (instance, base string, err error) {
	s, st, ok := f.view.Stream(id)
	switch {
	case !ok:
		return "", "", fmt.Errorf("%w: %q is not in the fleet's registry", errNoOwner, id)
	case s.Owner == "" || s.Owner == f.self:
		return s.Owner, "", fmt.Errorf("%w: no other instance runs %q", errNoOwner, id)
	case st.Advertise == "":
		return s.Owner, "", fmt.Errorf("%w: its owner %s advertises no admin URL (fleet.advertise)", errNoOwner, s.Owner)
	}
	return s.Owner, strings.TrimSuffix(st.Advertise, "/"), nil
}

// get fetches path of the console at base into v.
func (f *consoleFleet) get(ctx context.Context, base, path string, v any) error {
	return f.call(ctx, http.MethodGet, base, path, v)
}

func (f *consoleFleet) call(ctx context.Context, method, base, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, base+path, nil)
	if err != nil {
		return err
	}
	if f.token != "" {
		req.Header.Set("Authorization", "Bearer "+f.token) // never in the URL
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %s%s: %s: %s", method, base, path, resp.Status, strings.TrimSpace(string(msg)))
	}
	return json.NewDecoder(io.LimitReader(resp.Body, peerMaxBody)).Decode(v)
}

// rowsOf returns the rows of the streams other instances run, fetched at
// most once per peerRowsTTL, and each stream of the registry this
// instance does not run with its owner: state unknown when its owner did
// not answer.
func (f *consoleFleet) rowsOf(ctx context.Context, local map[string]bool) []consoleStream {
	streams := f.view.Streams()
	bases := make(map[string]string) // instance -> admin URL
	for _, s := range streams {
		if local[s.ID] || s.Owner == "" || s.Owner == f.self {
			continue
		}
		if _, ok := bases[s.Owner]; !ok {
			_, base, _ := f.owner(s.ID)
			bases[s.Owner] = base
		}
	}
	now := time.Now()
	var wg sync.WaitGroup
	for inst, base := range bases {
		f.mu.Lock()
		fresh := now.Sub(f.rows[inst].at) < peerRowsTTL
		f.mu.Unlock()
		if fresh || base == "" {
			continue
		}
		wg.Go(func() {
			var body struct {
				Streams []consoleStream `json:"streams"`
			}
			err := f.get(ctx, base, "/console/api/streams?"+localOnly, &body)
			f.mu.Lock()
			was := f.failing[inst]
			f.failing[inst] = err != nil
			f.mu.Unlock()
			switch {
			case err != nil && !was:
				f.log.Warn("console: another instance does not answer: its streams show state unknown", "instance", inst, "err", err)
			case err == nil && was:
				f.log.Info("console: another instance answers again", "instance", inst)
			}
			if err != nil {
				return
			}
			m := make(map[string]consoleStream, len(body.Streams))
			for _, r := range body.Streams {
				m[r.ID] = r
			}
			f.mu.Lock()
			f.rows[inst] = peerRows{at: time.Now(), rows: m}
			f.mu.Unlock()
		})
	}
	wg.Wait()
	out := make([]consoleStream, 0, len(streams))
	f.mu.Lock()
	defer f.mu.Unlock()
	for inst, pr := range f.rows {
		if _, ok := bases[inst]; !ok || now.Sub(pr.at) > peerStaleRows {
			delete(f.rows, inst) // left the fleet, or owns nothing now
			delete(f.failing, inst)
		}
	}
	for _, s := range streams {
		if local[s.ID] {
			continue
		}
		row, ok := f.rows[s.Owner].rows[s.ID]
		if !ok || s.Owner == f.self {
			row = consoleStream{ID: s.ID, State: fleet.StateUnknown}
		}
		row.Owner = s.Owner
		out = append(out, row)
	}
	return out
}

// events returns the events of stream id from its owner.
func (f *consoleFleet) events(ctx context.Context, id string) (json.RawMessage, error) {
	_, base, err := f.owner(id)
	if err != nil {
		return nil, err
	}
	var body struct {
		Events json.RawMessage `json:"events"`
	}
	err = f.get(ctx, base, "/console/api/streams/"+url.PathEscape(id)+"/events?"+localOnly, &body)
	return body.Events, err
}

// dial opens path, a console WebSocket of the instance at base, with a
// ticket that instance issued to the fleet-wide token.
func (f *consoleFleet) dial(ctx context.Context, base, path string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, peerTimeout)
	defer cancel()
	var t struct {
		Ticket string `json:"ticket"`
	}
	if err := f.call(ctx, http.MethodPost, base, "/console/api/ticket", &t); err != nil {
		return nil, err
	}
	conn, _, err := websocket.Dial(ctx, base+path, &websocket.DialOptions{
		Subprotocols: []string{wsProtocol, ticketPrefix + t.Ticket},
		HTTPClient:   f.client,
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s%s: %w", base, path, err)
	}
	conn.SetReadLimit(proxyReadSize)
	return conn, nil
}

// proxyListen relays up, the listen-in socket of a stream on its owner, to
// the page on conn, which the caller accepted. It queues at most
// proxyQueue frames; beyond, frames are dropped and counted with the
// owner's drops in the page's {"dropped": n}. It returns when either side
// closes.
func (c *console) proxyListen(ctx context.Context, conn *websocket.Conn, up *websocket.Conn) {
	defer up.CloseNow()
	ctx, cancel := context.WithCancel(ctx)
	type msg struct {
		typ websocket.MessageType
		b   []byte
	}
	frames := make(chan msg, proxyQueue)
	var upDropped, dropped atomic.Uint64
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	readEach(ctx, cancel, &wg, up, func(typ websocket.MessageType, b []byte) {
		if typ == websocket.MessageText {
			var d struct {
				Dropped *uint64 `json:"dropped"`
			}
			if json.Unmarshal(b, &d) == nil && d.Dropped != nil {
				upDropped.Store(*d.Dropped)
				return
			}
		}
		select {
		case frames <- msg{typ, b}:
		default:
			dropped.Add(1)
		}
	})
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var reported uint64
	for {
		select {
		case <-ctx.Done():
			conn.Close(websocket.StatusGoingAway, "")
			return
		case <-t.C:
			if n := upDropped.Load() + dropped.Load(); n != reported {
				reported = n
				b, _ := json.Marshal(map[string]uint64{"dropped": n})
				if c.write(ctx, conn, websocket.MessageText, b) != nil {
					return
				}
			}
		case m := <-frames:
			if c.write(ctx, conn, m.typ, m.b) != nil {
				return
			}
		}
	}
}

// peerLevels follows, over one levels socket to another instance, the
// levels of the streams of that instance one page shows.
type peerLevels struct {
	visible chan []string // the latest list wins (cap 1)
	mu      sync.Mutex
	ids     []string
	levels  map[string]peerLevel
}

type peerLevel struct {
	at    time.Time
	level []any // [id, rms, peak, silent], as the owner sent it
}

func newPeerLevels() *peerLevels {
	return &peerLevels{visible: make(chan []string, 1), levels: make(map[string]peerLevel)}
}

// show asks for the levels of ids, if they changed.
func (p *peerLevels) show(ids []string) {
	p.mu.Lock()
	same := strings.Join(p.ids, "\n") == strings.Join(ids, "\n")
	p.ids = ids
	p.mu.Unlock()
	if same {
		return
	}
	select {
	case <-p.visible:
	default:
	}
	p.visible <- ids
}

// level returns the last fresh level of id.
func (p *peerLevels) level(id string, now time.Time) ([]any, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, ok := p.levels[id]
	return l.level, ok && now.Sub(l.at) <= peerLevelsTTL
}

// run keeps a levels socket to the instance at base open until ctx is
// done, dialling again peerRetry after a failure.
func (p *peerLevels) run(ctx context.Context, f *consoleFleet, base string) {
	for {
		err := p.follow(ctx, f, base)
		if ctx.Err() != nil {
			return
		}
		f.log.Debug("console: levels of another instance", "base", base, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(peerRetry):
		}
	}
}

func (p *peerLevels) follow(ctx context.Context, f *consoleFleet, base string) error {
	up, err := f.dial(ctx, base, "/console/ws/levels?"+localOnly)
	if err != nil {
		return err
	}
	defer up.CloseNow()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	readEach(ctx, cancel, &wg, up, func(_ websocket.MessageType, b []byte) {
		var m struct {
			Levels [][]any `json:"levels"`
		}
		if json.Unmarshal(b, &m) != nil {
			return
		}
		now := time.Now()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, l := range m.Levels {
			if id, ok := l[0].(string); ok && len(l) == 4 && (len(p.levels) < maxVisible || p.levels[id].level != nil) {
				p.levels[id] = peerLevel{at: now, level: l}
			}
		}
	})
	p.mu.Lock()
	ids := p.ids
	p.mu.Unlock()
	for {
		b, _ := json.Marshal(map[string][]string{"visible": ids})
		wctx, wcancel := context.WithTimeout(ctx, wsWriteTimeout)
		err := up.Write(wctx, websocket.MessageText, b)
		wcancel()
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ids = <-p.visible:
			p.mu.Lock()
			for id := range p.levels { // keep only what is shown
				if !slices.Contains(ids, id) {
					delete(p.levels, id)
				}
			}
			p.mu.Unlock()
		}
	}
}
