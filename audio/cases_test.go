package audio

import (
	"encoding/binary"
	"math"
	"os"
	"slices"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/g711"
	"gopkg.in/hraban/opus.v2"
)

// decoderCase is one track format, with the speech clip rendered as 20 ms
// RTP payloads of that format. The table feeds the fidelity, allocation and
// reset tests, the fuzz seeds and the benchmarks.
type decoderCase struct {
	name    string
	format  Format
	outRate int
	// packets renders the 16 kHz (or, for G.711, the 8 kHz) speech clip.
	packets func(tb testing.TB) [][]byte
}

var decoderCases = []decoderCase{
	{
		name:    "opus mono packets encoded at 16 kHz decode at 16 kHz",
		format:  Format{Codec: CodecOpus, SampleRate: 48000, Channels: 2},
		outRate: 16000,
		packets: opusPackets(16000, 1),
	},
	{
		name:    "opus stereo packets encoded at 48 kHz decode to 16 kHz mono",
		format:  Format{Codec: CodecOpus, SampleRate: 48000, Channels: 2},
		outRate: 16000,
		packets: opusPackets(48000, 2),
	},
	{
		name:    "pcma at 8 kHz is upsampled to 16 kHz",
		format:  Format{Codec: CodecPCMA, SampleRate: 8000, Channels: 1},
		outRate: 16000,
		packets: g711Packets(CodecPCMA),
	},
	{
		name:    "pcmu at 8 kHz is upsampled to 16 kHz",
		format:  Format{Codec: CodecPCMU, SampleRate: 8000, Channels: 1},
		outRate: 16000,
		packets: g711Packets(CodecPCMU),
	},
	{
		name:    "l16 48 kHz stereo is downmixed and downsampled to 16 kHz",
		format:  Format{Codec: CodecL16, SampleRate: 48000, Channels: 2},
		outRate: 16000,
		packets: l16Packets(48000, 2),
	},
	{
		name:    "l16 44.1 kHz mono is downsampled to 16 kHz",
		format:  Format{Codec: CodecL16, SampleRate: 44100, Channels: 1},
		outRate: 16000,
		packets: l16Packets(44100, 1),
	},
	{
		name:    "l16 16 kHz mono passes through",
		format:  Format{Codec: CodecL16, SampleRate: 16000, Channels: 1},
		outRate: 16000,
		packets: l16Packets(16000, 1),
	},
}

// loadClip reads a mono speech clip from the loadtest fixtures.
func loadClip(tb testing.TB, name string, wantRate int) []int16 {
	tb.Helper()
	b, err := os.ReadFile("../loadtest/testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	rate, channels, samples, err := ReadWAV(b)
	if err != nil {
		tb.Fatal(err)
	}
	if rate != wantRate || channels != 1 {
		tb.Fatalf("%s is %d Hz, %d channels; want %d Hz mono", name, rate, channels, wantRate)
	}
	return samples
}

// speech16k returns the 16 kHz reference clip.
func speech16k(tb testing.TB) []int16 {
	return loadClip(tb, "speech_16k.wav", 16000)
}

// speechAt returns the 16 kHz clip resampled to rate, cut to whole 20 ms
// frames.
func speechAt(tb testing.TB, rate int) []int16 {
	tb.Helper()
	r, err := NewResampler(16000, rate)
	if err != nil {
		tb.Fatal(err)
	}
	s := append([]int16(nil), r.Process(speech16k(tb))...)
	return s[:len(s)/(rate/50)*(rate/50)]
}

func opusPackets(rate, channels int) func(testing.TB) [][]byte {
	return func(tb testing.TB) [][]byte {
		tb.Helper()
		mono := speechAt(tb, rate)
		pcm := interleave(mono, channels)
		enc, err := opus.NewEncoder(rate, channels, opus.AppVoIP)
		if err != nil {
			tb.Fatal(err)
		}
		// At the default bitrate with FEC, SILK's waveform drifts too far
		// from the input for a correlation test; 32 kb/s stays near 0.94.
		for _, err := range []error{enc.SetBitrate(32000), enc.SetInBandFEC(true), enc.SetPacketLossPerc(20)} {
			if err != nil {
				tb.Fatal(err)
			}
		}
		frame := rate / 50 * channels
		var packets [][]byte
		buf := make([]byte, 1275) // the largest Opus packet (RFC 6716)
		for i := 0; i+frame <= len(pcm); i += frame {
			n, err := enc.Encode(pcm[i:i+frame], buf)
			if err != nil {
				tb.Fatal(err)
			}
			packets = append(packets, slices.Clone(buf[:n]))
		}
		return packets
	}
}

// g711Packets encodes the 8 kHz clip with mediacommon's encoder, so that the
// decoder's tables are checked against an independent implementation.
func g711Packets(codec string) func(testing.TB) [][]byte {
	return func(tb testing.TB) [][]byte {
		tb.Helper()
		s := loadClip(tb, "speech_8k.wav", 8000)
		be := make([]byte, 2*len(s))
		for i, v := range s {
			binary.BigEndian.PutUint16(be[2*i:], uint16(v))
		}
		var enc []byte
		var err error
		if codec == CodecPCMU {
			enc, err = g711.Mulaw(be).Marshal()
		} else {
			enc, err = g711.Alaw(be).Marshal()
		}
		if err != nil {
			tb.Fatal(err)
		}
		return cut(enc, 160)
	}
}

// l16Packets renders the clip at rate as big-endian L16; with two channels
// the right one is at half level, so that a downmix that drops or swaps a
// channel changes the level but one that sums without averaging overflows.
func l16Packets(rate, channels int) func(testing.TB) [][]byte {
	return func(tb testing.TB) [][]byte {
		tb.Helper()
		pcm := interleave(speechAt(tb, rate), channels)
		b := make([]byte, 2*len(pcm))
		for i, v := range pcm {
			binary.BigEndian.PutUint16(b[2*i:], uint16(v))
		}
		return cut(b, 2*channels*rate/50)
	}
}

// interleave copies mono into channels channels, channel c scaled by
// 1/2^c.
func interleave(mono []int16, channels int) []int16 {
	out := make([]int16, len(mono)*channels)
	for i, v := range mono {
		for c := range channels {
			out[i*channels+c] = v >> c
		}
	}
	return out
}

// cut splits b into consecutive size-byte packets, dropping a short tail.
func cut(b []byte, size int) [][]byte {
	var out [][]byte
	for i := 0; i+size <= len(b); i += size {
		out = append(out, b[i:i+size:i+size])
	}
	return out
}

func caseNamed(tb testing.TB, name string) decoderCase {
	tb.Helper()
	for _, c := range decoderCases {
		if c.name == name {
			return c
		}
	}
	tb.Fatalf("no decoder case %q", name)
	return decoderCase{}
}

// decodeAll decodes packets with a fresh decoder and returns the
// concatenated output.
func decodeAll(tb testing.TB, f Format, outRate int, packets [][]byte) []int16 {
	tb.Helper()
	d, err := NewDecoder(f, outRate)
	if err != nil {
		tb.Fatal(err)
	}
	var out []int16
	for i, p := range packets {
		s, err := d.Decode(p)
		if err != nil {
			tb.Fatalf("packet %d: %v", i, err)
		}
		out = append(out, s...)
	}
	return out
}

// bestCorrelation returns the largest normalised cross-correlation between
// ref and got over lags of got within ±maxLag, and that lag. It compares at
// most the middle 2.5 s at 16 kHz, where every lag has data, which keeps the
// search quick under the race detector.
func bestCorrelation(ref, got []int16, maxLag int) (float64, int) {
	const window = 40000
	n := min(len(ref), len(got))
	lo := max(maxLag, (n-window)/2)
	hi := min(n-maxLag, lo+window)
	var xx float64
	for _, x := range ref[lo:hi] {
		xx += float64(x) * float64(x)
	}
	best, bestLag := math.Inf(-1), 0
	for lag := -maxLag; lag <= maxLag; lag++ {
		var xy, yy float64
		for i, x := range ref[lo:hi] {
			y := float64(got[lo+lag+i])
			xy += float64(x) * y
			yy += y * y
		}
		if xx == 0 || yy == 0 {
			continue
		}
		if r := xy / math.Sqrt(xx*yy); r > best {
			best, bestLag = r, lag
		}
	}
	return best, bestLag
}
