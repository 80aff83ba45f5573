package loadtest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"

	"github.com/earshot/earshot/audio"
)

// invalidFaultCases are faults Inject and NewServer (in
// ServerConfig.Faults) must reject, against a server serving "cam" (audio
// only) and "vid" (with video), each with a fragment of the message that
// pinpoints the problem.
var invalidFaultCases = []struct {
	name      string
	fault     Fault
	wantMsg   string
	scheduled bool // only in ServerConfig.Faults (Inject ignores At)
}{
	{
		name:    "an unknown kind is rejected listing the known ones",
		fault:   Fault{Stream: "cam", Kind: "explode"},
		wantMsg: `unknown kind "explode" (want one of audio_stop_video, audio_stop_rtcp,`,
	},
	{
		name:    "an unknown stream is rejected",
		fault:   Fault{Stream: "nope", Kind: FaultSilent},
		wantMsg: `silent on "nope": no such stream`,
	},
	{
		name:    "a stream fault without a stream is rejected",
		fault:   Fault{Kind: FaultGarbage},
		wantMsg: `garbage: no such stream`,
	},
	{
		name:    "a server restart naming a stream is rejected",
		fault:   Fault{Stream: "cam", Kind: FaultServerRestart},
		wantMsg: `server_restart on "cam": Stream must be empty (the fault is server-wide)`,
	},
	{
		name:    "stopping audio while video continues needs a video track",
		fault:   Fault{Stream: "cam", Kind: FaultAudioStopVideo},
		wantMsg: `audio_stop_video on "cam": the stream has no video track (set StreamSpec.Video)`,
	},
	{
		name:      "a negative At is rejected",
		fault:     Fault{Stream: "cam", Kind: FaultSilent, At: -time.Second},
		wantMsg:   `silent on "cam": negative At -1s`,
		scheduled: true,
	},
	{
		name:    "a negative Duration is rejected",
		fault:   Fault{Stream: "vid", Kind: FaultAudioStopVideo, Duration: -time.Second},
		wantMsg: `audio_stop_video on "vid": negative Duration -1s`,
	},
	{
		name:    "an instantaneous fault with a Duration is rejected",
		fault:   Fault{Stream: "cam", Kind: FaultTimestampJump, Jump: time.Second, Duration: time.Second},
		wantMsg: `timestamp_jump on "cam" (Jump 1s): Duration must be 0 (the fault is instantaneous)`,
	},
	{
		name:    "a loss above 1 is rejected",
		fault:   Fault{Stream: "cam", Kind: FaultUDPLoss, Loss: 1.5},
		wantMsg: `udp_loss on "cam" (Loss 1.5): Loss 1.5 is not in (0, 1]`,
	},
	{
		name:    "a loss fault without Loss is rejected",
		fault:   Fault{Stream: "cam", Kind: FaultUDPLoss},
		wantMsg: `Loss 0 is not in (0, 1]`,
	},
	{
		name:    "a negative reorder probability is rejected",
		fault:   Fault{Stream: "cam", Kind: FaultUDPReorder, Reorder: -0.1},
		wantMsg: `Reorder -0.1 is not in (0, 1]`,
	},
	{
		name:    "a jitter below one packet is rejected",
		fault:   Fault{Stream: "cam", Kind: FaultUDPJitter, Jitter: 5 * time.Millisecond},
		wantMsg: `Jitter 5ms is not in [20ms, 2s]`,
	},
	{
		name:    "a jump over an hour is rejected",
		fault:   Fault{Stream: "cam", Kind: FaultTimestampJump, Jump: 2 * time.Hour},
		wantMsg: `Jump 2h0m0s is not in [1ms, 1h0m0s]`,
	},
	{
		name:    "a payload size beyond one RTP packet is rejected",
		fault:   Fault{Stream: "cam", Kind: FaultOversizedPayload, Size: 1461},
		wantMsg: `oversized_payload on "cam" (Size 1461): Size 1461 is not in [1, 1460]`,
	},
	{
		name:    "a fast clock without Speed is rejected",
		fault:   Fault{Stream: "cam", Kind: FaultFastClock},
		wantMsg: `Speed 0 is not in [2, 100]`,
	},
	{
		name:    "a parameter of another kind is rejected",
		fault:   Fault{Stream: "cam", Kind: FaultGarbage, Loss: 0.5},
		wantMsg: `garbage on "cam" (Loss 0.5): Loss is only used by udp_loss`,
	},
}

// invalidFaultStreams are the streams invalidFaultCases refer to.
var invalidFaultStreams = []StreamSpec{
	{Name: "cam", Codec: audio.CodecPCMA},
	{Name: "vid", Codec: audio.CodecPCMA, Video: true},
}

func TestInjectRejectsInvalidFaults(t *testing.T) {
	s := startServer(t, ServerConfig{Streams: invalidFaultStreams, Logger: slog.New(slog.DiscardHandler)})
	for _, tc := range invalidFaultCases {
		if tc.scheduled {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			clear, err := s.Inject(tc.fault)
			if err == nil {
				clear()
				t.Fatal("Inject succeeded, want an error")
			}
			if !errors.Is(err, ErrInvalidFault) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("error %q, want ErrInvalidFault and %q", err, tc.wantMsg)
			}
		})
	}
	if log := s.FaultLog(); len(log) != 0 {
		t.Errorf("fault log %+v after rejected faults, want empty", log)
	}
}

func TestNewServerRejectsInvalidScheduledFaults(t *testing.T) {
	for _, tc := range invalidFaultCases {
		t.Run(tc.name, func(t *testing.T) {
			ok := Fault{Stream: "cam", Kind: FaultSilent, At: time.Hour}
			_, err := NewServer(ServerConfig{Streams: invalidFaultStreams, Faults: []Fault{ok, tc.fault}})
			if err == nil {
				t.Fatal("NewServer succeeded, want an error")
			}
			if !errors.Is(err, ErrInvalidConfig) || !errors.Is(err, ErrInvalidFault) {
				t.Errorf("error %q does not wrap ErrInvalidConfig and ErrInvalidFault", err)
			}
			if !strings.Contains(err.Error(), "Faults[1]: ") || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not contain Faults[1] and %q", err, tc.wantMsg)
			}
		})
	}
}

func TestInjectOutsideStartAndClose(t *testing.T) {
	s, err := NewServer(ServerConfig{Streams: invalidFaultStreams})
	if err != nil {
		t.Fatal(err)
	}
	f := Fault{Stream: "cam", Kind: FaultSilent}
	if _, err := s.Inject(f); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Inject before Start: %v, want ErrNotRunning", err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.Inject(f); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Inject after Close: %v, want ErrNotRunning", err)
	}
}

func TestFaultLog(t *testing.T) {
	s := startServer(t, ServerConfig{Streams: invalidFaultStreams, Logger: slog.New(slog.DiscardHandler)})
	clearSilent, err := s.Inject(Fault{Stream: "cam", Kind: FaultSilent, At: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Inject(Fault{Stream: "vid", Kind: FaultTimestampJump, Jump: time.Second}); err != nil {
		t.Fatal(err)
	}
	clearRTCP, err := s.Inject(Fault{Stream: "vid", Kind: FaultAudioStopRTCP})
	if err != nil {
		t.Fatal(err)
	}
	clearSilent()
	clearSilent() // idempotent
	s.Close()
	clearRTCP() // after Close: nothing to do

	log := s.FaultLog()
	want := []Fault{
		{Stream: "cam", Kind: FaultSilent}, // At ignored by Inject
		{Stream: "vid", Kind: FaultTimestampJump, Jump: time.Second},
		{Stream: "vid", Kind: FaultAudioStopRTCP},
	}
	if len(log) != len(want) {
		t.Fatalf("fault log %+v, want %d events", log, len(want))
	}
	for i, ev := range log {
		if ev.Fault != want[i] {
			t.Errorf("event %d: %s, want %s", i, ev.Fault, want[i])
		}
		if ev.Began.IsZero() || ev.Ended.Before(ev.Began) || i > 0 && ev.Began.Before(log[i-1].Began) {
			t.Errorf("event %d %s: began %v, ended %v", i, ev.Fault, ev.Began, ev.Ended)
		}
	}
	if !log[1].Ended.Equal(log[1].Began) {
		t.Errorf("instantaneous %s ended %v after it began", log[1].Fault, log[1].Ended.Sub(log[1].Began))
	}
}

func TestServerRunsScheduledFaults(t *testing.T) {
	const (
		silentAt, silentFor   = 300 * time.Millisecond, 400 * time.Millisecond
		restartAt, restartFor = 1200 * time.Millisecond, 300 * time.Millisecond
	)
	start := time.Now()
	s := startServer(t, ServerConfig{
		Streams: []StreamSpec{{Name: "cam", Codec: audio.CodecPCMA}},
		Faults: []Fault{
			{Kind: FaultServerRestart, At: restartAt, Duration: restartFor},
			{Stream: "cam", Kind: FaultSilent, At: silentAt, Duration: silentFor},
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	tcp := probeOptions{transport: gortsplib.TransportTCP}
	p := startProbe(t, s.URL("cam"), tcp)
	// The silence shows as a gap in arrivals, then the restart ends the
	// session.
	p.await(t, "a gap of silence", func(probeCounts) bool {
		pkts := p.audioSince(0)
		for i := 1; i < len(pkts); i++ {
			if pkts[i].at.Sub(pkts[i-1].at) > silentFor/2 {
				return true
			}
		}
		return false
	})
	p.awaitStopped(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	if _, err := s.WaitFault(ctx, 1); err != nil {
		t.Fatalf("waiting for the end of the restart: %v", err)
	}
	startProbe(t, s.URL("cam"), tcp).awaitAudio(t, probeCounts{}, 3)

	log := s.FaultLog()
	if len(log) != 2 {
		t.Fatalf("fault log %+v, want 2 events", log)
	}
	for i, want := range []struct {
		kind    FaultKind
		at, dur time.Duration
	}{{FaultSilent, silentAt, silentFor}, {FaultServerRestart, restartAt, restartFor}} {
		ev := log[i]
		at, dur := ev.Began.Sub(start), ev.Ended.Sub(ev.Began)
		if ev.Kind != want.kind || at < want.at || at > want.at+time.Second ||
			dur < want.dur || dur > want.dur+time.Second || ev.Error != "" {
			t.Errorf("event %d: %s at +%v for %v (error %q), want %s at +%v for %v",
				i, ev.Fault, at, dur, ev.Error, want.kind, want.at, want.dur)
		}
	}
}

func TestCloseLetsHeldRequestsGo(t *testing.T) {
	cases := []struct {
		name  string
		fault Fault
	}{
		{"a DESCRIBE held by slow_describe", Fault{Stream: "cam", Kind: FaultSlowDescribe}},
		{"a server down for a restart", Fault{Kind: FaultServerRestart}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewServer(ServerConfig{Streams: invalidFaultStreams, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			raw := dialRaw(t, s.URL("cam"), nil)
			if _, err := s.Inject(tc.fault); err != nil {
				t.Fatal(err)
			}
			// The DESCRIBE may be held, or refused by a closed server.
			_ = raw.send(base.Describe, nil, nil)
			s.Close()
			if res, err := raw.awaitResponse(waitBound); err == nil && res.StatusCode == base.StatusOK {
				t.Fatalf("DESCRIBE answered %v after Close", res)
			} else if err != nil && !errors.Is(err, io.EOF) && !isConnReset(err) {
				t.Fatalf("reading after Close: %v, want the connection closed", err)
			}
			if ev := s.FaultLog()[0]; ev.Ended.IsZero() {
				t.Errorf("%s still active after Close", ev.Fault)
			}
		})
	}
}

func isConnReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET)
}

func TestWaitFault(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	s, err := NewServer(ServerConfig{
		Streams: invalidFaultStreams,
		Faults:  []Fault{{Stream: "cam", Kind: FaultGarbage, Duration: 50 * time.Millisecond}},
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WaitFault(ctx, 0); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("WaitFault before Start: %v, want ErrNotRunning", err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ev, err := s.WaitFault(ctx, 0)
	if err != nil || ev.Kind != FaultGarbage || ev.Ended.Sub(ev.Began) < 50*time.Millisecond {
		t.Fatalf("WaitFault(0) = %+v, %v; want the scheduled garbage, ended after 50 ms", ev, err)
	}
	short, cancelShort := context.WithCancel(ctx)
	cancelShort()
	if _, err := s.WaitFault(short, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitFault(1) with a cancelled context: %v", err)
	}
	if _, err := s.Inject(Fault{Stream: "cam", Kind: FaultSilent}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.WaitFault(ctx, 1)
		done <- err
	}()
	s.Close() // ends the injected fault
	if err := <-done; err != nil {
		t.Fatalf("WaitFault(1) across Close: %v, want the fault ended by Close", err)
	}
	if _, err := s.WaitFault(ctx, 2); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("WaitFault(2) after Close: %v, want ErrNotRunning", err)
	}
}
