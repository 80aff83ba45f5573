package ingest_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/ingest"
	"github.com/earshot/earshot/sink/schema"
)

// interopTone is the sine every case of the GStreamer server plays, at
// audiotestsrc volume 0.5: -9.03 dBFS RMS.
const (
	interopTone    = 440.0
	interopLevelDB = -9.03
)

// interopCases are the mount points of testdata/gstserver.py, each encoded
// and payloaded by GStreamer's own elements, the codec earshot must
// identify, and the level of the decoded tone when the codec changes it.
//
// AMR attenuates a pure tone: ffmpeg 5.1 decoding the same GStreamer
// streams measures -10.34 dBFS for AMR-NB and -10.82 for AMR-WB (ffmpeg
// -rtsp_transport tcp -i rtsp://.../amr -t 3 -ac 1 -f s16le), as earshot
// does; the level is held to that, within 1 dB.
var interopCases = []struct {
	mount, codec string
	levelDB      float64 // 0 means interopLevelDB
	// packet bounds the audio of one packet: capture times on the arrival
	// clock jitter by as much.
	packet time.Duration
}{
	{"latm", audio.CodecAACLATM, 0, 30 * time.Millisecond},      // avenc_aac ! rtpmp4apay: SBR sync extension in the config
	{"aac", audio.CodecAAC, 0, 70 * time.Millisecond},           // avenc_aac ! rtpmp4gpay
	{"mp2", audio.CodecMPA, 0, 30 * time.Millisecond},           // avenc_mp2 ! rtpmpapay, static payload type 14
	{"mp3", audio.CodecMPA, 0, 240 * time.Millisecond},          // lamemp3enc ! rtpmpapay: 8 or 9 frames a packet, timestamps rounded
	{"amr", audio.CodecAMR, -10.34, 30 * time.Millisecond},      // amrnbenc ! rtpamrpay, octet-aligned
	{"amr-wb", audio.CodecAMRWB, -10.82, 30 * time.Millisecond}, // voamrwbenc ! rtpamrpay, octet-aligned
	{"opus", audio.CodecOpus, 0, 30 * time.Millisecond},         // opusenc ! rtpopuspay, stereo
	{"pcmu-20ms", audio.CodecPCMU, 0, 30 * time.Millisecond},    // 20 ms packets
	{"pcma-60ms", audio.CodecPCMA, 0, 70 * time.Millisecond},    // 60 ms packets
	{"l16", audio.CodecL16, 0, 30 * time.Millisecond},           // 44.1 kHz stereo
}

// startGStreamerServer runs testdata/gstserver.py (gst-rtsp-server through
// python3-gi) on 127.0.0.1 and returns its address; the server exits when
// the test ends and closes its stdin.
func startGStreamerServer(t *testing.T) string {
	t.Helper()
	// Debian's python3-gi is in the system interpreter, which a PATH
	// python3 (pyenv, a venv) may not be.
	python := "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		python = "python3"
	}
	cmd := exec.Command(python, "testdata/gstserver.py", fmt.Sprint(interopTone))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the GStreamer RTSP server (make deps installs it): %v", err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(waitTimeout):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("GStreamer RTSP server: %s, stderr:\n%s", cmd.ProcessState, stderr.String())
		}
	})
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
		io.Copy(io.Discard, stdout) // until the server exits
		exited <- cmd.Wait()
	}()
	select {
	case line := <-lines:
		var port int
		if _, err := fmt.Sscanf(line, "PORT %d", &port); err != nil {
			// The reader goroutine has seen stdout close: Wait is done.
			<-exited
			t.Fatalf("GStreamer RTSP server (make deps installs gir1.2-gst-rtsp-server-1.0 and python3-gi): %q: %s", line, stderr.String())
		}
		return fmt.Sprintf("127.0.0.1:%d", port)
	case <-time.After(waitTimeout):
		t.Fatal("GStreamer RTSP server did not report its port")
	}
	return ""
}

// TestInteropGStreamer pulls a tone per codec from GStreamer's RTSP server
// over TCP and UDP through the real ingest path and checks each stream's
// pitch within 1 %, level within 1 dB, duration against its capture
// times, and that nothing is missing.
func TestInteropGStreamer(t *testing.T) {
	addr := startGStreamerServer(t)
	// One codec at a time, over TCP and UDP at once: twenty live GStreamer
	// encoders and as many streams at once outrun two shared cores.
	for _, c := range interopCases {
		t.Run(c.mount, func(t *testing.T) {
			var streams []ingest.StreamConfig
			for _, tr := range []string{"tcp", "udp"} {
				streams = append(streams, ingest.StreamConfig{ID: c.mount + "-" + tr, URL: "rtsp://" + addr + "/" + c.mount, Transport: tr})
			}
			ms := newMemSink()
			sup, err := ingest.New(ingest.Config{Streams: streams}, ms)
			if err != nil {
				t.Fatal(err)
			}
			stop := runSupervisor(t, sup)
			// 14 records of 200 ms: the first two (start-up) are skipped,
			// and 2.4 s analysed.
			got := map[string]int{}
			ms.await(t, "14 audio records from both streams", func(r schema.Record) bool {
				if r.Kind == schema.KindAudio {
					got[r.Stream]++
				}
				return got[streams[0].ID] >= 14 && got[streams[1].ID] >= 14
			})
			stop()
			level := interopLevelDB
			if c.levelDB != 0 {
				level = c.levelDB
			}
			for _, s := range streams {
				t.Run(s.Transport, func(t *testing.T) {
					checkInteropStream(t, ms.Records(s.ID), c.codec, level, c.packet)
				})
			}
		})
	}
}

// checkInteropStream checks one stream's records: one epoch without gaps
// whose audio is the tone.
func checkInteropStream(t *testing.T, recs []schema.Record, codec string, wantLevel float64, packet time.Duration) {
	t.Helper()
	checkEpoch(t, recs, codec)
	var pcm []int16
	var audioRecs []schema.Record
	for _, r := range recs {
		switch r.Kind {
		case schema.KindGap:
			t.Errorf("gap of %d ms at offset %d: %s", r.GapMS, r.Offset, r.Reason)
		case schema.KindAudio:
			audioRecs = append(audioRecs, r)
		}
	}
	if len(audioRecs) < 14 {
		t.Fatalf("%d audio records", len(audioRecs))
	}
	for _, r := range audioRecs[2:14] {
		for i := 0; i+1 < len(r.PCM); i += 2 {
			pcm = append(pcm, int16(binary.LittleEndian.Uint16(r.PCM[i:])))
		}
	}
	// Duration: the audio between the first and last analysed record on
	// one capture clock (the arrival clock gives way to the sender's NTP
	// clock at its first report, some seconds in) spans what their capture
	// times do: within 2 % and a packet on the sender's clock, within 10 %,
	// a packet and 100 ms on the arrival clock.
	var clocked []schema.Record
	for _, clock := range []string{schema.ClockNTP, schema.ClockArrival} {
		if clocked = clocked[:0]; true {
			for _, r := range audioRecs[2:14] {
				if r.Clock == clock {
					clocked = append(clocked, r)
				}
			}
		}
		if len(clocked) >= 5 {
			break
		}
	}
	first, last := clocked[0], clocked[len(clocked)-1]
	audioSpan := time.Duration(last.Offset-first.Offset) * time.Second / 16000
	capSpan := last.CaptureTime.Sub(first.CaptureTime)
	// A record's capture time is that of a packet it draws from; the
	// arrival clock also carries the scheduling of a loaded machine.
	slack := audioSpan/50 + packet
	if last.Clock == schema.ClockArrival {
		slack = audioSpan/10 + packet + 100*time.Millisecond
	}
	if d := (capSpan - audioSpan).Abs(); d > slack {
		t.Errorf("capture times span %v for %v of audio (%s clock)", capSpan, audioSpan, last.Clock)
	}
	if len(pcm) != 12*3200 {
		t.Errorf("%d samples in 12 records, want %d", len(pcm), 12*3200)
	}
	freq := toneFrequency(pcm, 16000)
	level := levelDB(pcm)
	t.Logf("%s: %.2f Hz, %.2f dBFS over %.1f s; capture span %v for %v of audio", codec, freq, level, float64(len(pcm))/16000, capSpan, audioSpan)
	if math.Abs(freq-interopTone) > interopTone/100 {
		t.Errorf("pitch %.2f Hz, want %.0f Hz within 1 %%", freq, interopTone)
	}
	if math.Abs(level-wantLevel) > 1 {
		t.Errorf("level %.2f dBFS, want %.2f within 1 dB", level, wantLevel)
	}
}

// toneFrequency estimates the frequency of a sine from its rising zero
// crossings, interpolated between samples.
func toneFrequency(pcm []int16, rate int) float64 {
	var firstX, lastX float64
	n := 0
	for i := 1; i < len(pcm); i++ {
		a, b := float64(pcm[i-1]), float64(pcm[i])
		if a < 0 && b >= 0 {
			x := float64(i-1) + a/(a-b)
			if n == 0 {
				firstX = x
			}
			lastX = x
			n++
		}
	}
	if n < 2 {
		return 0
	}
	return float64(n-1) * float64(rate) / (lastX - firstX)
}

// levelDB returns the RMS level of pcm in dB relative to full scale.
func levelDB(pcm []int16) float64 {
	var sum float64
	for _, v := range pcm {
		sum += float64(v) * float64(v)
	}
	return 10 * math.Log10(sum/float64(len(pcm))/(32768*32768))
}

// TestInteropHelpersMeasure holds the pitch and level estimators to a
// synthesised tone, so that a broken estimator cannot pass a broken stream.
func TestInteropHelpersMeasure(t *testing.T) {
	pcm := make([]int16, 32000)
	for i := range pcm {
		pcm[i] = int16(16384 * math.Sin(2*math.Pi*interopTone*float64(i)/16000+0.3))
	}
	if f := toneFrequency(pcm, 16000); math.Abs(f-interopTone) > 0.01 {
		t.Errorf("toneFrequency = %.4f", f)
	}
	if l := levelDB(pcm); math.Abs(l-interopLevelDB) > 0.01 {
		t.Errorf("levelDB = %.3f", l)
	}
	if f := toneFrequency(pcm[:len(pcm)/2:len(pcm)/2], 8000); math.Abs(f-interopTone/2) > 0.01 {
		t.Errorf("toneFrequency at the wrong rate = %.4f", f)
	}
}
