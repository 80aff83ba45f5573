package consumer

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/earshot/earshot/sink/schema"
)

// pcmOf returns n samples of value v as s16le.
func pcmOf(n int, v int16) []byte {
	b := make([]byte, 2*n)
	for i := range n {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return b
}

// readWAVData returns the sample rate and data of a canonical 44-byte-header
// WAV file.
func readWAVData(t *testing.T, path string) (int, []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 44 || string(b[0:4]) != "RIFF" || string(b[36:40]) != "data" {
		t.Fatalf("%s is not a canonical WAV file", path)
	}
	n := int(binary.LittleEndian.Uint32(b[40:]))
	if n != len(b)-44 {
		t.Fatalf("%s: data chunk of %d bytes, file has %d", path, n, len(b)-44)
	}
	return int(binary.LittleEndian.Uint32(b[24:])), b[44:]
}

func TestTapPlacesAudioByOffset(t *testing.T) {
	const stream = "site/cam 1"
	rec := func(kind schema.Kind, seq uint64, offset int64, f func(*schema.Record)) schema.Record {
		r := schema.Record{Stream: stream, Kind: kind, Epoch: 3, Seq: seq, SampleRate: 16000, Channels: 1,
			Codec: "pcmu", Offset: offset, CaptureTime: testTime, Clock: schema.ClockArrival}
		if f != nil {
			f(&r)
		}
		return r
	}
	records := []schema.Record{
		rec(schema.KindStart, 0, 0, nil),
		rec(schema.KindAudio, 1, 0, func(r *schema.Record) { r.PCM = pcmOf(1600, 1000) }),
		// 200 ms (3200 samples) lost, announced by a gap record.
		rec(schema.KindGap, 2, 1600, func(r *schema.Record) { r.GapMS, r.Reason = 200, schema.ReasonRTPLoss }),
		rec(schema.KindAudio, 3, 4800, func(r *schema.Record) { r.PCM = pcmOf(1600, 2000) }),
		rec(schema.KindAudio, 3, 4800, func(r *schema.Record) { r.PCM = pcmOf(1600, 2000) }), // redelivered
		// seq 4 never arrives: its 1600 samples stay silent.
		rec(schema.KindAudio, 5, 8000, func(r *schema.Record) { r.PCM = pcmOf(800, -3) }),
		rec(schema.KindEnd, 6, 8800, func(r *schema.Record) { r.Reason = schema.ReasonShutdown }),
		// Another epoch of the same stream goes to its own file.
		rec(schema.KindAudio, 0, 0, func(r *schema.Record) { r.Epoch, r.PCM = 4, pcmOf(160, 7) }),
	}
	var tap Tap
	for _, r := range records {
		if err := tap.Add(r); err != nil {
			t.Fatalf("Add seq %d: %v", r.Seq, err)
		}
	}
	dir := filepath.Join(t.TempDir(), "wavs")
	files, err := tap.WriteWAVs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Fatalf("%d files, want 2: %+v", len(files), files)
	}
	f := files[0]
	want := TapFile{Path: f.Path, Stream: stream, Epoch: 3, Records: 6, AudioRecords: 3, Duplicates: 1,
		Seconds: 0.55, Gaps: 2, GapMS: 300, Ended: true}
	if f != want {
		t.Errorf("summary\n%+v\nwant\n%+v", f, want)
	}
	if name := filepath.Base(f.Path); filepath.Dir(f.Path) != dir || !strings.HasPrefix(name, "site_cam_1_") || !strings.HasSuffix(name, "-e3.wav") {
		t.Errorf("file name %q", f.Path)
	}
	rate, data := readWAVData(t, f.Path)
	wantData := bytes.Join([][]byte{pcmOf(1600, 1000), pcmOf(3200, 0), pcmOf(1600, 2000), pcmOf(1600, 0), pcmOf(800, -3)}, nil)
	if rate != 16000 || !bytes.Equal(data, wantData) {
		t.Errorf("rate %d, %d bytes of data; want 16000, %d bytes of audio, silence in the gaps", rate, len(data), len(wantData))
	}
	if files[1].Epoch != 4 || files[1].Records != 1 || files[1].Ended || files[1].Seconds != 0.01 {
		t.Errorf("second epoch %+v", files[1])
	}
	if _, data := readWAVData(t, files[1].Path); !bytes.Equal(data, pcmOf(160, 7)) {
		t.Errorf("second epoch data differs")
	}
}

func TestTapRejects(t *testing.T) {
	var tap Tap
	if err := tap.Add(schema.Record{}); err == nil {
		t.Error("Add accepted an invalid record")
	}
	a := chunk("cam-1", 1, 0, 0, 160)
	if err := tap.Add(a); err != nil {
		t.Fatal(err)
	}
	other := a
	other.Seq, other.SampleRate = 8, 8000
	if err := tap.Add(other); err == nil || !strings.Contains(err.Error(), "8000 Hz, 1 channels differs from 16000 Hz, 1 channels") {
		t.Errorf("Add of a record of another rate: %v", err)
	}
}

// fileStemCases are stream ids and the file stems they must get; a stem
// ending in '#' must be followed by a hash and is compared up to it.
var fileStemCases = []struct {
	stream, stem string
}{
	{"cam-1", "cam-1"},
	{"Site_2.cam-3", "Site_2.cam-3"},
	{"site/cam 1", "site_cam_1_#"},
	{"site_cam_1", "site_cam_1"},
	{"..", "_._#"},
	{".hidden", "_hidden_#"},
	{"../../etc/passwd", "_._.._etc_passwd_#"},
	{"Größe", "Gr____e_#"},
	{strings.Repeat("c", 100), strings.Repeat("c", 64) + "_#"},
}

func TestFileStem(t *testing.T) {
	seen := map[string]string{}
	for _, tc := range fileStemCases {
		got := fileStem(tc.stream)
		if prefix, hashed := strings.CutSuffix(tc.stem, "#"); hashed {
			if !strings.HasPrefix(got, prefix) || len(got) != len(prefix)+8 {
				t.Errorf("fileStem(%q) = %q, want %s<hash>", tc.stream, got, prefix)
			}
		} else if got != tc.stem {
			t.Errorf("fileStem(%q) = %q, want %q", tc.stream, got, tc.stem)
		}
		if other, ok := seen[got]; ok {
			t.Errorf("streams %q and %q share the stem %q", other, tc.stream, got)
		}
		seen[got] = tc.stream
		if strings.ContainsAny(got, "/\\\x00") || strings.HasPrefix(got, ".") {
			t.Errorf("fileStem(%q) = %q is not a safe file name", tc.stream, got)
		}
	}
}
