package consumer

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/sink/schema"
)

// Tap collects the timeline of every stream and epoch, through a
// Deduplicator and a Reassembler, and writes each as a WAV file: audio where
// it was received, silence for gaps. Its zero value is ready to use. It
// keeps every record's PCM (without copying) until it is discarded. It is
// not safe for concurrent use.
type Tap struct {
	dedup   Deduplicator
	asm     Reassembler
	streams map[string]map[uint64]*tapStream
}

// tapStream collects the pieces of one stream and epoch.
type tapStream struct {
	file       TapFile // summary so far; Path and Seconds are set on writing
	sampleRate int
	channels   int
	pieces     []Piece // audio and gaps within the epoch, in order
	samples    int64
}

// Add validates r and adds it. A record seen before is counted as a
// duplicate and otherwise ignored. It rejects a record whose sample rate or
// channel count differs from earlier records of its stream and epoch.
func (t *Tap) Add(r schema.Record) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("consumer: tap: %w", err)
	}
	s := t.stream(r.Stream, r.Epoch, r.SampleRate, r.Channels)
	if r.SampleRate != s.sampleRate || r.Channels != s.channels {
		return fmt.Errorf("consumer: tap: stream %q epoch %d seq %d: %d Hz, %d channels differs from %d Hz, %d channels of earlier records",
			r.Stream, r.Epoch, r.Seq, r.SampleRate, r.Channels, s.sampleRate, s.channels)
	}
	e := FromRecord(r, Position{})
	if !t.dedup.Fresh(e.Key()) {
		s.file.Duplicates++
		return nil
	}
	s.file.Records++
	switch r.Kind {
	case schema.KindAudio:
		s.file.AudioRecords++
	case schema.KindEnd:
		s.file.Ended = true
	}
	t.asm.Add(e, t.place)
	return nil
}

// stream returns the collector of a stream and epoch, creating it.
func (t *Tap) stream(id string, epoch uint64, rate, channels int) *tapStream {
	if t.streams == nil {
		t.streams = make(map[string]map[uint64]*tapStream)
	}
	epochs := t.streams[id]
	if epochs == nil {
		epochs = make(map[uint64]*tapStream)
		t.streams[id] = epochs
	}
	s := epochs[epoch]
	if s == nil {
		s = &tapStream{file: TapFile{Stream: id, Epoch: epoch}, sampleRate: rate, channels: channels}
		epochs[epoch] = s
	}
	return s
}

// place adds a piece of the reassembled timeline to its file. The time
// between epochs is not part of either file.
func (t *Tap) place(p Piece) {
	if p.Kind == PieceEnd || p.Reason == schema.ReasonBetweenEpochs {
		return
	}
	s := t.stream(p.Stream, p.Epoch, p.SampleRate, p.Channels)
	if p.Kind == PieceGap {
		s.file.Gaps++
		s.file.GapMS += p.Duration().Milliseconds()
	}
	s.pieces = append(s.pieces, p)
	s.samples += p.Samples
}

// WriteWAVs writes one WAV file per stream and epoch into dir, creating dir
// if needed, named <stream>-e<epoch>.wav with the stream id made safe for a
// file name (see fileStem). It returns the files' summaries sorted by stream
// and epoch.
func (t *Tap) WriteWAVs(dir string) ([]TapFile, error) {
	t.asm.Flush(t.place)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("consumer: tap: %w", err)
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
			return files, fmt.Errorf("consumer: tap: streams %q and %q map to the same file name %q", other, s.file.Stream, name)
		}
		names[name] = s.file.Stream
		pcm, err := s.pcm()
		if err != nil {
			return files, err
		}
		f := s.file
		f.Path = filepath.Join(dir, name)
		f.Seconds = float64(s.samples) / float64(s.sampleRate)
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
		return fmt.Errorf("consumer: tap: %w", err)
	}
	if err := audio.WriteWAV(f, sampleRate, channels, pcm); err != nil {
		f.Close()
		return fmt.Errorf("consumer: tap: %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("consumer: tap: %w", err)
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

// maxWAVData is the most PCM bytes a WAV file holds.
const maxWAVData = 0xFFFFFFFF - 36

// pcm returns the epoch's audio, with silence for its gaps.
func (s *tapStream) pcm() ([]byte, error) {
	frame := int64(2 * s.channels)
	if s.samples > maxWAVData/frame {
		return nil, fmt.Errorf("consumer: tap: stream %q epoch %d: %d samples do not fit in a WAV file", s.file.Stream, s.file.Epoch, s.samples)
	}
	pcm := make([]byte, 0, s.samples*frame)
	for _, p := range s.pieces {
		if p.Kind == PieceAudio {
			pcm = append(pcm, p.PCM...)
		} else {
			pcm = append(pcm, make([]byte, p.Samples*frame)...)
		}
	}
	return pcm, nil
}
