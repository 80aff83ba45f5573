package sink

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/earshot/earshot/audio"
)

// Tap collects records per stream and epoch and writes each as a WAV file,
// placing PCM by Offset and leaving silence for gaps and lost records. Its
// zero value is ready to use. It keeps every record's PCM (without copying)
// until it is discarded. It is not safe for concurrent use; ReadTopic calls
// its fn serially, so fn may call Add.
type Tap struct {
	streams map[string]map[uint64]*tapStream
}

// Add validates r and adds it to its stream and epoch. Records seen again
// with the same Seq are counted as duplicates and otherwise ignored. It
// rejects a record whose sample rate or channel count differs from earlier
// records of its stream and epoch.
func (t *Tap) Add(r Record) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("sink: tap: %w", err)
	}
	if t.streams == nil {
		t.streams = make(map[string]map[uint64]*tapStream)
	}
	epochs := t.streams[r.Stream]
	if epochs == nil {
		epochs = make(map[uint64]*tapStream)
		t.streams[r.Stream] = epochs
	}
	s := epochs[r.Epoch]
	if s == nil {
		s = &tapStream{
			file:       TapFile{Stream: r.Stream, Epoch: r.Epoch},
			sampleRate: r.SampleRate,
			channels:   r.Channels,
			seqs:       make(map[uint64]struct{}),
		}
		epochs[r.Epoch] = s
	}
	if r.SampleRate != s.sampleRate || r.Channels != s.channels {
		return fmt.Errorf("sink: tap: stream %q epoch %d seq %d: %d Hz, %d channels differs from %d Hz, %d channels of earlier records",
			r.Stream, r.Epoch, r.Seq, r.SampleRate, r.Channels, s.sampleRate, s.channels)
	}
	s.add(r)
	return nil
}

// WriteWAVs writes one WAV file per stream and epoch into dir, creating dir
// if needed, named <stream>-e<epoch>.wav with the stream id made safe for a
// file name (see fileStem). It returns the files' summaries sorted by stream
// and epoch.
func (t *Tap) WriteWAVs(dir string) ([]TapFile, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("sink: tap: %w", err)
	}
	var streams []*tapStream
	for _, epochs := range t.streams {
		for _, s := range epochs {
			streams = append(streams, s)
		}
	}
	slices.SortFunc(streams, func(a, b *tapStream) int {
		return cmp.Or(strings.Compare(a.file.Stream, b.file.Stream), cmp.Compare(a.file.Epoch, b.file.Epoch))
	})
	files := make([]TapFile, 0, len(streams))
	names := make(map[string]string, len(streams)) // file name → stream
	for _, s := range streams {
		name := fmt.Sprintf("%s-e%d.wav", fileStem(s.file.Stream), s.file.Epoch)
		if other, ok := names[name]; ok && other != s.file.Stream {
			return files, fmt.Errorf("sink: tap: streams %q and %q map to the same file name %q", other, s.file.Stream, name)
		}
		names[name] = s.file.Stream
		pcm, err := s.pcm()
		if err != nil {
			return files, err
		}
		f := s.file
		f.Path = filepath.Join(dir, name)
		f.Seconds = float64(s.endSample) / float64(s.sampleRate)
		if err := writeWAVFile(f.Path, s.sampleRate, s.channels, pcm); err != nil {
			return files, err
		}
		files = append(files, f)
	}
	return files, nil
}

// writeWAVFile writes pcm to a new WAV file at path.
func writeWAVFile(path string, sampleRate, channels int, pcm []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("sink: tap: %w", err)
	}
	if err := audio.WriteWAV(f, sampleRate, channels, pcm); err != nil {
		f.Close()
		return fmt.Errorf("sink: tap: %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sink: tap: %w", err)
	}
	return nil
}

// maxStemLen is the longest file stem kept from a stream id before it is
// cut and suffixed with a hash.
const maxStemLen = 64

// fileStem turns a stream id into a safe file name stem: bytes outside
// [A-Za-z0-9._-] and a leading dot become '_'. If that changed the id, or it
// is longer than maxStemLen, the stem is cut to maxStemLen and a hash of the
// id is appended, so distinct ids keep distinct names.
func fileStem(stream string) string {
	b := []byte(stream)
	for i, c := range b {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '.' && c != '_' && c != '-' {
			b[i] = '_'
		}
	}
	if len(b) > 0 && b[0] == '.' {
		b[0] = '_'
	}
	if string(b) == stream && len(b) <= maxStemLen && len(b) > 0 {
		return stream
	}
	h := fnv.New32a()
	h.Write([]byte(stream))
	return fmt.Sprintf("%s_%08x", b[:min(len(b), maxStemLen)], h.Sum32())
}
