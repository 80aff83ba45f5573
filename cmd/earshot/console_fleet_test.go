package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/ingest/fleet"
	"github.com/earshot/earshot/loadtest"
	"github.com/earshot/earshot/loadtest/testkit"
)

// consoleFleetCameras play the tone, one on each of the 4 registry
// partitions (murmur2, as the registry places them): whichever 2
// partitions an instance owns, it runs 2 of them.
var consoleFleetCameras = []string{"mic-3", "mic-0", "mic-4", "mic-5"}

const consoleFleetPartitions = 4

// TestConsoleFleetInChromium runs two `earshot run` instances of a fleet
// as child processes, with the admin token set (EARSHOT_ADMIN_TOKEN, the
// fleet-wide token): the console of instance a lists every stream of the
// fleet with its owner and the level of b's streams, and plays a stream b
// runs, relayed by a; GET /api/streams/{id} on a answers for b's stream.
func TestConsoleFleetInChromium(t *testing.T) {
	browser := newBrowser(t)
	t.Setenv("EARSHOT_ADMIN_TOKEN", consoleToken) // the children's environment

	var specs []loadtest.StreamSpec
	for _, id := range consoleFleetCameras {
		specs = append(specs, loadtest.StreamSpec{Name: id, Codec: audio.CodecL16, Signal: loadtest.SignalTone})
	}
	e := newFleetEnvFor(t, specs, consoleFleetPartitions)
	ctx := t.Context()
	var parts []int32
	for _, id := range consoleFleetCameras {
		parts = append(parts, e.reg.PartitionOf(id))
	}
	if slices.Sort(parts); len(slices.Compact(parts)) != consoleFleetPartitions {
		t.Fatalf("the cameras are on partitions %v: rename them to cover all %d", parts, consoleFleetPartitions)
	}

	e.start(t, "a")
	e.start(t, "b")
	defer func() {
		if t.Failed() {
			for id, c := range e.children {
				t.Logf("logs of %s:\n%s", id, c.logs)
			}
		}
	}()
	own := e.waitOwners(t, 30*time.Second, "two instances, 2 partitions each", func(own map[string][]int32) bool {
		return len(own) == 2 && len(own["a"]) == consoleFleetPartitions/2 && len(own["b"]) == consoleFleetPartitions/2
	})
	owner := make(map[string]string)
	var remote string // a stream b runs
	for _, id := range consoleFleetCameras {
		for inst, ps := range own {
			if slices.Contains(ps, e.reg.PartitionOf(id)) {
				owner[id] = inst
			}
		}
		if owner[id] == "b" && remote == "" {
			remote = id
		}
	}
	base := map[string]string{} // instance -> advertised admin URL (the listener's address by default)
	sts, err := e.reg.Instances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range sts {
		base[st.Instance] = st.Advertise
	}
	if !strings.HasPrefix(base["a"], "http://127.0.0.1:") || !strings.HasPrefix(base["b"], "http://127.0.0.1:") {
		t.Fatalf("advertised admin URLs %v, want the listeners' addresses", base)
	}
	scA, scB := newScraper(t, base["a"], consoleToken), newScraper(t, base["b"], consoleToken)
	defer func() {
		if t.Failed() {
			t.Logf("page text: %s", eval[string](t, browser, `document.body.innerText`))
			saveScreenshot(t, browser, "console-fleet-failed.png")
		}
	}()

	// The relay refuses what the console refuses: no list, no socket
	// without the token.
	if code := scA.status("/console/api/streams", false); code != http.StatusUnauthorized {
		t.Errorf("/console/api/streams without the token: %d, want 401", code)
	}
	checkSocketRefused(t, strings.TrimPrefix(base["a"], "http://"), remote)

	// The fleet API of a answers for b's stream.
	var detail fleet.APIStreamDetail
	if err := json.Unmarshal([]byte(scA.get("/api/streams/"+remote, true)), &detail); err != nil {
		t.Fatal(err)
	}
	if detail.Owner != "b" || detail.Local || detail.OwnerURL != base["b"] || detail.State != fleet.StateUnknown {
		t.Errorf("GET /api/streams/%s on a: %+v, want owner b at %s, not local, state unknown", remote, detail, base["b"])
	}

	do(t, browser, "open a's console and log in",
		chromedp.Navigate(base["a"]+"/console"),
		chromedp.WaitVisible(chromedp.ID("login")),
		chromedp.SendKeys(chromedp.ID("token"), consoleToken),
		chromedp.Click(chromedp.CSS(`#login button`)),
		chromedp.WaitVisible(chromedp.ID("app")),
	)
	var want []string
	for _, id := range slices.Sorted(slices.Values(consoleFleetCameras)) {
		want = append(want, id+":"+owner[id]+":streaming")
	}
	rowsExpr := `[...document.querySelectorAll('#rows .row')].map(r => r.dataset.id + ':' + r.children[9].textContent + ':' + r.children[2].firstChild.textContent).join(' ')`
	if !testkit.Poll(browserTimeout, func() bool { return eval[string](t, browser, rowsExpr) == strings.Join(want, " ") }) {
		t.Fatalf("rows show %q, want %q", eval[string](t, browser, rowsExpr), strings.Join(want, " "))
	}
	for _, id := range consoleFleetCameras {
		checkToneRow(t, browser, id) // b's levels come through a
	}

	do(t, browser, "listen to "+remote+", which b runs", chromedp.Click(chromedp.CSS(fmt.Sprintf(`.row[data-id=%q] .listen`, remote))))
	checkListenIn(t, browser, remote, loadtest.ToneDBFS)
	if n := listeners(t, scB, remote); n != 1 {
		t.Errorf("%d listeners of %s on b while a's page plays it, want 1", n, remote)
	}
	saveScreenshot(t, browser, "console-fleet.png")
	do(t, browser, "stop", chromedp.Click(chromedp.CSS(fmt.Sprintf(`.row[data-id=%q] .listen`, remote))))
	if !testkit.Poll(10*time.Second, func() bool { return listeners(t, scB, remote) == 0 }) {
		t.Error("b still has a listener after a's page stopped listening")
	}
}

// TestConsoleRelayBoundsItsQueue: when the page reads nothing, the relay
// of a listen-in socket queues at most proxyQueue frames and drops the
// rest, and the page is told the drops of both the owner and the relay.
func TestConsoleRelayBoundsItsQueue(t *testing.T) {
	const frames, ownerDropped = 20000, 7 // 400 s of audio, 13 MB: about 3 times what the socket buffers hold
	frame := make([]byte, 8+640)
	sent := make(chan struct{})
	owner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer conn.CloseNow()
		ctx := conn.CloseRead(r.Context())
		conn.Write(ctx, websocket.MessageText, []byte(`{"rate":16000,"server_time_ms":0}`))
		for range frames {
			if conn.Write(ctx, websocket.MessageBinary, frame) != nil {
				return
			}
		}
		conn.Write(ctx, websocket.MessageText, []byte(fmt.Sprintf(`{"dropped":%d}`, ownerDropped)))
		close(sent)
		<-ctx.Done()
	}))
	defer owner.Close()
	con := newConsole("", &fleetSource{n: 0, asked: make(map[string]bool)}, slog.New(slog.DiscardHandler))
	defer con.Close()
	relay := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up, _, err := websocket.Dial(r.Context(), owner.URL, nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		con.relay(w, r, up)
	}))
	defer relay.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	page, _, err := websocket.Dial(ctx, relay.URL, &websocket.DialOptions{Subprotocols: []string{wsProtocol}})
	if err != nil {
		t.Fatal(err)
	}
	defer page.CloseNow()
	page.SetReadLimit(1 << 20)
	select { // the page reads nothing while the owner sends
	case <-sent:
	case <-ctx.Done():
		t.Fatal("the owner could not send: the relay does not drop")
	}
	got, hello := 0, false
	for {
		typ, b, err := page.Read(ctx)
		if err != nil {
			t.Fatalf("after %d frames: %v", got, err)
		}
		if typ == websocket.MessageBinary {
			got++
			continue
		}
		var m struct {
			Dropped *int `json:"dropped"`
		}
		json.Unmarshal(b, &m)
		switch {
		case m.Dropped == nil:
			hello = true
		case *m.Dropped == ownerDropped+frames-got:
			t.Logf("the page got %d of %d frames; %d dropped by the relay", got, frames, frames-got)
			if !hello || got >= frames {
				t.Errorf("the page got the hello %t and %d of %d frames: want the hello and a bounded queue", hello, got, frames)
			}
			return
		}
	}
}
