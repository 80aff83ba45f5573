package audio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// WriteWAV writes a canonical 44-byte-header RIFF/WAVE file holding pcm, which
// is interleaved signed 16-bit little-endian samples.
func WriteWAV(w io.Writer, sampleRate, channels int, pcm []byte) error {
	if sampleRate <= 0 || channels <= 0 {
		return fmt.Errorf("write wav: invalid format %d Hz, %d channels", sampleRate, channels)
	}
	if len(pcm)%(2*channels) != 0 {
		return fmt.Errorf("write wav: %d bytes is not a whole number of %d-channel frames", len(pcm), channels)
	}
	if uint64(len(pcm)) > 0xFFFFFFFF-36 {
		return errors.New("write wav: data larger than 4 GiB")
	}
	var h [44]byte
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], uint32(36+len(pcm)))
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16) // fmt chunk size
	binary.LittleEndian.PutUint16(h[20:], 1)  // PCM
	binary.LittleEndian.PutUint16(h[22:], uint16(channels))
	binary.LittleEndian.PutUint32(h[24:], uint32(sampleRate))
	binary.LittleEndian.PutUint32(h[28:], uint32(sampleRate*channels*2))
	binary.LittleEndian.PutUint16(h[32:], uint16(channels*2))
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], uint32(len(pcm)))
	if _, err := w.Write(h[:]); err != nil {
		return fmt.Errorf("write wav header: %w", err)
	}
	if _, err := w.Write(pcm); err != nil {
		return fmt.Errorf("write wav data: %w", err)
	}
	return nil
}

// ReadWAV parses a 16-bit PCM RIFF/WAVE file. It returns the sample rate, the
// channel count and the interleaved samples. Chunks other than fmt and data
// are skipped.
func ReadWAV(b []byte) (sampleRate, channels int, samples []int16, err error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return 0, 0, nil, errors.New("read wav: not a RIFF/WAVE file")
	}
	p := b[12:]
	var haveFmt bool
	for len(p) >= 8 {
		id, size := string(p[0:4]), int(binary.LittleEndian.Uint32(p[4:8]))
		p = p[8:]
		if size < 0 || size > len(p) {
			return 0, 0, nil, fmt.Errorf("read wav: chunk %q of %d bytes overruns the file", id, size)
		}
		body := p[:size]
		switch id {
		case "fmt ":
			if size < 16 {
				return 0, 0, nil, errors.New("read wav: short fmt chunk")
			}
			if tag := binary.LittleEndian.Uint16(body[0:]); tag != 1 {
				return 0, 0, nil, fmt.Errorf("read wav: format tag %d is not PCM", tag)
			}
			channels = int(binary.LittleEndian.Uint16(body[2:]))
			sampleRate = int(binary.LittleEndian.Uint32(body[4:]))
			if bits := binary.LittleEndian.Uint16(body[14:]); bits != 16 {
				return 0, 0, nil, fmt.Errorf("read wav: %d bits per sample, want 16", bits)
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return 0, 0, nil, errors.New("read wav: data chunk before fmt chunk")
			}
			samples = make([]int16, size/2)
			for i := range samples {
				samples[i] = int16(binary.LittleEndian.Uint16(body[2*i:]))
			}
			return sampleRate, channels, samples, nil
		}
		p = p[min(size+size%2, len(p)):]
	}
	return 0, 0, nil, errors.New("read wav: no data chunk")
}
