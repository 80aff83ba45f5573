package sink_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/sink"
	"github.com/earshot/earshot/sink/schema"
)

// TestRecordsReadableWithKcat reads what the Writer produced with an
// independent client, kcat (librdkafka), printing key, headers and value
// size.
func TestRecordsReadableWithKcat(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not found: install the Debian package kcat (make deps does) to read records with an independent client")
	}
	broker := newBroker(t)
	w, err := sink.NewWriter(sink.WriterConfig{Brokers: []string{broker.Addr()}, Topic: deliveryTopic, Logger: discardLogger})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var want []schema.Record
	for seq := range uint64(5) {
		kind := schema.KindAudio
		switch seq {
		case 0:
			kind = schema.KindStart
		case 4:
			kind = schema.KindEnd
		}
		r := streamRecord("gate-north", kind, 7, seq, t0)
		want = append(want, r)
		if err := w.Write(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, "-C", "-b", broker.Addr(), "-t", deliveryTopic, "-o", "beginning", "-e", "-q",
		"-f", `%k|%S|%h\n`)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(want) {
		t.Fatalf("kcat printed %d records, want %d:\n%s", len(lines), len(want), out)
	}
	for i, line := range lines {
		r := want[i] // one stream: one partition, in order
		parts := strings.SplitN(line, "|", 3)
		size := fmt.Sprint(len(r.PCM))
		if len(r.PCM) == 0 {
			size = "-1" // control records have a null value
		}
		if len(parts) != 3 || parts[0] != r.Stream || parts[1] != size {
			t.Errorf("record %d: %q", i, line)
			continue
		}
		for _, h := range []string{
			"earshot.schema=1", "earshot.kind=" + string(r.Kind), "earshot.stream=gate-north", "earshot.epoch=7",
			fmt.Sprintf("earshot.seq=%d", r.Seq), fmt.Sprintf("earshot.offset=%d", r.Offset), "earshot.sample_rate=16000",
			"earshot.channels=1", "earshot.encoding=s16le", "earshot.codec=opus", "earshot.clock=arrival",
			"earshot.capture_time=" + r.CaptureTime.UTC().Format(time.RFC3339Nano),
		} {
			if !strings.Contains(parts[2], h) {
				t.Errorf("record %d: headers lack %s: %s", i, h, parts[2])
			}
		}
	}
	t.Logf("kcat read:\n%s", lines[len(lines)-1])
}
