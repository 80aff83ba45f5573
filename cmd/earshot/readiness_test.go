package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/sink"
)

// downBroker is a broker whose errors name its address, as kafka-go's do.
type downBroker struct{ stalled bool }

const brokerAddr = "10.9.8.7:9092"

func (b downBroker) Health() sink.Health {
	if !b.stalled {
		return sink.Health{}
	}
	return sink.Health{Stalled: true, StalledSince: time.Unix(0, 0), Reason: "broker unreachable: dial tcp " + brokerAddr + ": connection refused"}
}

func (b downBroker) Ping(context.Context) error {
	return errors.New("dial tcp " + brokerAddr + ": connection refused")
}

// readinessCases: /readyz, which needs no token, shows the broker's
// address only when the listener is on loopback.
var readinessCases = []struct {
	name          string
	stalled       bool
	terse         bool
	want, wantNot string
}{
	{"on loopback an unreachable broker is named", false, false, brokerAddr, ""},
	{"on loopback a stalled writer's cause is shown", true, false, brokerAddr, ""},
	{"beyond loopback an unreachable broker is not named", false, true, "kafka not reachable", brokerAddr},
	{"beyond loopback a stall shows no cause", true, true, "kafka stalled since", brokerAddr},
}

func TestReadinessRevealsNoAddressBeyondLoopback(t *testing.T) {
	for _, c := range readinessCases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(&readiness{streams: func() int { return 1 }, broker: downBroker{stalled: c.stalled}, terse: c.terse})
			defer srv.Close()
			res, err := http.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), c.want) {
				t.Errorf("status %d %q, want 503 with %q", res.StatusCode, b, c.want)
			}
			if c.wantNot != "" && strings.Contains(string(b), c.wantNot) {
				t.Errorf("answer %q reveals %q", b, c.wantNot)
			}
		})
	}
	http.DefaultClient.CloseIdleConnections()
}
