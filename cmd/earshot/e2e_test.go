package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/loadtest"
	"github.com/earshot/earshot/loadtest/loadtesttest"
	"github.com/earshot/earshot/loadtest/testkit"
	"github.com/earshot/earshot/sink"
	"github.com/earshot/earshot/sink/schema"
)

// e2eSecret is in every stream URL; it must appear nowhere else.
const e2eSecret = "hunter2-e2e"

// fidelityCases: the minimum correlation of decoded audio with the clip, per
// codec: every codec of the audio registry, with its fidelity mark. A
// byte-order or rate mistake scores below 0.3 (see loadtest's Fidelity
// test); the codecs themselves score well above these.
var fidelityCases = func() []fidelityCase {
	var cases []fidelityCase
	for _, name := range audio.Codecs() {
		c, _ := audio.LookupCodec(name)
		cases = append(cases, fidelityCase{codec: name, min: c.Fidelity})
	}
	return cases
}()

type fidelityCase struct {
	codec string
	min   float64
}

// TestEndToEnd: synthetic cameras → earshot → embedded Kafka over TCP →
// consumer. Per codec: one epoch, records in order with consecutive seq,
// continuous offsets, schema-1 headers, and audio that matches the clip.
func TestEndToEnd(t *testing.T) {
	var specs []loadtest.StreamSpec
	for _, c := range fidelityCases {
		specs = append(specs, loadtest.StreamSpec{Name: "cam-" + c.codec, Codec: c.codec})
	}
	cams := loadtesttest.NewServer(t, loadtest.ServerConfig{Streams: specs})
	broker, stopBroker, err := sink.StartEmbeddedBroker("e2e", 3)
	if err != nil {
		t.Fatal(err)
	}
	defer stopBroker()

	cfg := &Config{
		Kafka: KafkaConfig{Brokers: []string{broker}, Topic: "e2e"},
		Spool: SpoolConfig{Dir: t.TempDir()},
		Admin: AdminConfig{Listen: "127.0.0.1:0"},
		Diag:  DiagConfig{Dir: t.TempDir()},
	}
	for _, s := range specs {
		cfg.Streams = append(cfg.Streams, StreamConfig{ID: s.Name, URL: "rtsp://user:" + e2eSecret + "@" + cams.Addr() + "/" + s.Name, Transport: "tcp"})
	}
	logs := &testkit.SyncBuffer{}
	svc, err := newService(cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	// Stream until every stream has produced the audio compared below,
	// and a little more: on a loaded host connecting and the pacer's
	// catching up take a good part of a fixed run.
	const enough = 16000 * 2.4
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- svc.Run(ctx) }()
	testkit.WaitFor(t, time.Minute, "2.4 s of audio from every stream", func() bool {
		stats := svc.sup.Stats()
		for _, st := range stats {
			if st.AudioSamples < enough {
				return false
			}
		}
		return len(stats) == len(specs)
	})
	cancel()
	if err := <-runErr; err != nil {
		t.Fatalf("Run: %v", err)
	}

	byStream := readAll(t, broker, "e2e", len(specs))
	for _, fc := range fidelityCases {
		t.Run(fc.codec, func(t *testing.T) {
			recs := byStream["cam-"+fc.codec]
			pcm := checkStream(t, recs, fc.codec)
			// Skip the first 200 ms (decoder start-up) and compare 2 s.
			if len(pcm) < 16000*2+3200 {
				t.Fatalf("only %d samples delivered", len(pcm))
			}
			corr, _ := loadtest.Fidelity(pcm[3200:3200+2*16000], cams.Clip())
			t.Logf("%s: %d records, %.2f s, correlation with the clip %.3f", fc.codec, len(recs), float64(len(pcm))/16000, corr)
			if corr < fc.min {
				t.Errorf("correlation %.3f < %.2f", corr, fc.min)
			}
		})
	}
	if t.Failed() {
		t.Logf("service logs:\n%s", logs)
	}
	if strings.Contains(logs.String(), e2eSecret) {
		t.Errorf("logs contain the stream password")
	}
}

// readAll consumes the topic until every stream's end record is in.
func readAll(t *testing.T, broker, topic string, streams int) map[string][]schema.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out := make(map[string][]schema.Record)
	ended := 0
	errDone := errors.New("done")
	err := sink.ReadTopic(ctx, []string{broker}, topic, func(r schema.Record) error {
		out[r.Stream] = append(out[r.Stream], r)
		if r.Kind == schema.KindEnd {
			ended++
		}
		if ended == streams {
			return errDone
		}
		return nil
	})
	if !errors.Is(err, errDone) {
		t.Fatalf("reading back: %v (%d of %d streams ended)", err, ended, streams)
	}
	return out
}

// checkStream asserts the schema invariants of one stream's records and
// returns its audio.
func checkStream(t *testing.T, recs []schema.Record, codec string) []int16 {
	t.Helper()
	if len(recs) < 3 || recs[0].Kind != schema.KindStart || recs[len(recs)-1].Kind != schema.KindEnd {
		t.Fatalf("want start, audio…, end; got %d records", len(recs))
	}
	var pcm []int16
	var offset int64
	for i, r := range recs {
		where := fmt.Sprintf("record %d (%s)", i, r.Kind)
		switch {
		case r.Epoch != recs[0].Epoch || r.Epoch == 0 || r.Seq != uint64(i):
			t.Fatalf("%s: epoch %d seq %d, want %d and %d", where, r.Epoch, r.Seq, recs[0].Epoch, i)
		case r.Offset != offset:
			t.Fatalf("%s: offset %d, want %d", where, r.Offset, offset)
		case r.SampleRate != 16000 || r.Channels != 1 || r.Codec != codec:
			t.Fatalf("%s: %d Hz, %d channels, codec %q", where, r.SampleRate, r.Channels, r.Codec)
		case r.Clock != schema.ClockArrival && r.Clock != schema.ClockNTP:
			t.Fatalf("%s: clock %q", where, r.Clock)
		case i > 0 && captureError(recs[i-1], r) != "":
			t.Fatalf("%s: %s", where, captureError(recs[i-1], r))
		case r.Kind == schema.KindGap:
			t.Fatalf("%s: unexpected gap %q of %d ms", where, r.Reason, r.GapMS)
		case r.Kind == schema.KindEnd && r.Reason != schema.ReasonShutdown:
			t.Fatalf("%s: reason %q", where, r.Reason)
		case strings.Contains(fmt.Sprint(r.Stream, r.Codec, r.Reason), e2eSecret):
			t.Fatalf("%s: carries the password", where)
		}
		if r.Kind == schema.KindAudio {
			for j := 0; j+1 < len(r.PCM); j += 2 {
				pcm = append(pcm, int16(binary.LittleEndian.Uint16(r.PCM[j:])))
			}
			offset += int64(len(r.PCM) / 2)
		}
	}
	return pcm
}

// arrivalSlack is how far a record on the arrival clock may start before
// the previous one: arrival times rise packet by packet, and a record
// starts up to a packet into the packet that began it (1024 AAC samples
// at 16 kHz are the test's longest).
const arrivalSlack = 65 * time.Millisecond

// captureError says how the capture time of r, the record after prev in an
// epoch, breaks the clocks' invariants, or returns "". The sender reports
// of loadtest.Server give the time each packet was due, so on the ntp
// clock records follow each other exactly: each starts where the previous
// one ended. The arrival clock is later than that by the time packets
// spend on the way (the pacer catching up, the loopback, the worker's
// queue: hundreds of ms on a loaded machine), so when the first sender
// report arrives the capture time steps back by that delay, and never
// forward. The clock never returns from ntp to arrival. The start record
// is stamped when the worker opens the epoch, which may be after the
// first packets arrived; the first audio record is not compared with it.
// switchSlack is how far the first ntp record may start after where the
// arrival clock's last record ended: the longest frame of these cameras
// (AAC, 1024 samples at 16 kHz: 64 ms; MPA's is 36 ms) and a millisecond.
// It was MPA's until TestEndToEnd/aac failed twice on a loaded machine,
// 39 and 51 ms ahead: within one AAC frame.
const switchSlack = 65 * time.Millisecond

func captureError(prev, r schema.Record) string {
	end := prev.CaptureTime.Add(time.Duration(len(prev.PCM)/2) * time.Second / time.Duration(prev.SampleRate))
	if prev.Kind == schema.KindGap {
		end = prev.CaptureTime.Add(time.Duration(prev.GapMS) * time.Millisecond)
	}
	switch {
	case prev.Clock == schema.ClockNTP && r.Clock == schema.ClockArrival:
		return "the clock went back from ntp to arrival"
	case prev.Clock == schema.ClockNTP:
		if d := r.CaptureTime.Sub(end); d < -time.Millisecond || d > time.Millisecond {
			return fmt.Sprintf("capture time %s is %s from where the previous record ended", r.CaptureTime, d)
		}
	case r.Clock == schema.ClockNTP:
		// The arrival clock stamps a record from the packet that began it:
		// with frames that do not fill the packet period (MPA's 24 ms in
		// 20 ms rounds) it may run ahead of the due time by up to a frame.
		if r.CaptureTime.After(end.Add(switchSlack)) {
			return fmt.Sprintf("switching to ntp, capture time %s is ahead of the arrival clock (%s)", r.CaptureTime, end)
		}
	case prev.Kind != schema.KindStart && r.CaptureTime.Before(prev.CaptureTime.Add(-arrivalSlack)):
		return fmt.Sprintf("capture time %s goes back from %s", r.CaptureTime, prev.CaptureTime)
	}
	return ""
}
