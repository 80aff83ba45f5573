package sink

import "fmt"

// maxWAVData is the most PCM bytes a WAV file holds.
const maxWAVData = 0xFFFFFFFF - 36

// tapStream collects the records of one stream and epoch for a Tap.
type tapStream struct {
	file       TapFile // summary so far; Path and Seconds are set on writing
	sampleRate int
	channels   int
	seqs       map[uint64]struct{}
	audio      []Record // audio records, placed by Offset on writing
	endSample  int64    // one past the last sample covered by audio or gaps
}

// add adds r, which is valid and of this stream's epoch and format.
func (s *tapStream) add(r Record) {
	if _, dup := s.seqs[r.Seq]; dup {
		s.file.Duplicates++
		return
	}
	s.seqs[r.Seq] = struct{}{}
	s.file.Records++
	end := r.Offset
	switch r.Kind {
	case KindAudio:
		s.file.AudioRecords++
		s.audio = append(s.audio, r)
		end = r.Offset + int64(len(r.PCM)/(2*r.Channels))
	case KindGap:
		s.file.Gaps++
		s.file.GapMS += r.GapMS
		end = r.Offset + gapSamples(r.GapMS, r.SampleRate)
	case KindEnd:
		s.file.Ended = true
	}
	if end < r.Offset { // overflowed
		end = 1<<63 - 1
	}
	if end > s.endSample {
		s.endSample = end
	}
}

// pcm returns the stream's audio, each record placed at its Offset, silence
// where nothing was received.
func (s *tapStream) pcm() ([]byte, error) {
	frame := int64(2 * s.channels)
	if s.endSample > (maxWAVData)/frame {
		return nil, fmt.Errorf("sink: tap: stream %q epoch %d: %d samples do not fit in a WAV file", s.file.Stream, s.file.Epoch, s.endSample)
	}
	pcm := make([]byte, s.endSample*frame)
	for _, r := range s.audio {
		copy(pcm[r.Offset*frame:], r.PCM)
	}
	return pcm, nil
}
