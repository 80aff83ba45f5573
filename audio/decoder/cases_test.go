package decoder

import (
	"encoding/binary"
	"math"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"gopkg.in/hraban/opus.v2"

	"github.com/earshot/earshot/audio/internal/aactest"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/loadtest/avenc"
)

// decoderCase is one track format, with the speech clip rendered as RTP
// payloads of that format (20 ms each, except AAC's access units). The
// table feeds the fidelity, allocation and reset tests, the fuzz seeds and
// the benchmarks.
type decoderCase struct {
	name    string
	format  audio.Format
	outRate int
	// render renders the 16 kHz (or, for G.711 and G.726, the 8 kHz)
	// speech clip; use packets, which renders each case once.
	render func(tb testing.TB) []payload
	// fidelity is the correlation with the clip the case must reach; 0
	// means fidelityThreshold. AMR-NB's 8 kHz CELP keeps the speech but
	// not the waveform: it reaches 0.85.
	fidelity float64
}

// rendered holds each case's packets by name: rendering (resampling under
// the race detector, encoding) costs more than most tests that use them.
var rendered sync.Map

// packets returns c's payloads. The slice is the caller's; the bytes are
// shared and must not be modified.
func (c decoderCase) packets(tb testing.TB) []payload {
	tb.Helper()
	if p, ok := rendered.Load(c.name); ok {
		return slices.Clone(p.([]payload))
	}
	p := c.render(tb)
	rendered.Store(c.name, p)
	return slices.Clone(p)
}

// payload is one RTP packet's payload, marker bit and timestamp; the
// timestamps start at 0 and advance as a sender's would.
type payload struct {
	data   []byte
	marker bool
	ts     uint32
}

// every wraps a renderer of equal-duration packets of ticks clock units,
// each with the marker bit set.
func every(ticks int, render func(testing.TB) [][]byte) func(testing.TB) []payload {
	return func(tb testing.TB) []payload {
		var out []payload
		for i, p := range render(tb) {
			out = append(out, payload{data: p, marker: true, ts: uint32(i * ticks)})
		}
		return out
	}
}

var decoderCases = append([]decoderCase{
	{
		name:    "opus mono packets encoded at 16 kHz decode at 16 kHz",
		format:  audio.Format{Codec: audio.CodecOpus, SampleRate: 48000, Channels: 2},
		outRate: 16000,
		render:  every(960, opusPackets(16000, 1)),
	},
	{
		name:    "opus stereo packets encoded at 48 kHz decode to 16 kHz mono",
		format:  audio.Format{Codec: audio.CodecOpus, SampleRate: 48000, Channels: 2},
		outRate: 16000,
		render:  every(960, opusPackets(48000, 2)),
	},
	{
		name:    "pcma at 8 kHz is upsampled to 16 kHz",
		format:  audio.Format{Codec: audio.CodecPCMA, SampleRate: 8000, Channels: 1},
		outRate: 16000,
		render:  every(160, g711Packets(audio.CodecPCMA)),
	},
	{
		name:    "pcmu at 8 kHz is upsampled to 16 kHz",
		format:  audio.Format{Codec: audio.CodecPCMU, SampleRate: 8000, Channels: 1},
		outRate: 16000,
		render:  every(160, g711Packets(audio.CodecPCMU)),
	},
	{
		name:    "l16 48 kHz stereo is downmixed and downsampled to 16 kHz",
		format:  audio.Format{Codec: audio.CodecL16, SampleRate: 48000, Channels: 2},
		outRate: 16000,
		render:  every(960, l16Packets(48000, 2)),
	},
	{
		name:    "l16 44.1 kHz mono is downsampled to 16 kHz",
		format:  audio.Format{Codec: audio.CodecL16, SampleRate: 44100, Channels: 1},
		outRate: 16000,
		render:  every(882, l16Packets(44100, 1)),
	},
	{
		name:    "l16 16 kHz mono passes through",
		format:  audio.Format{Codec: audio.CodecL16, SampleRate: 16000, Channels: 1},
		outRate: 16000,
		render:  every(320, l16Packets(16000, 1)),
	},
	{
		name:    "aac 16 kHz mono, one access unit per packet",
		format:  aacFormat(16000, 1),
		outRate: 16000,
		render:  aacPackets(16000, 1, 1, 0),
	},
	{
		name:    "aac 48 kHz stereo, three access units per packet, downmixed and downsampled",
		format:  aacFormat(48000, 2),
		outRate: 16000,
		render:  aacPackets(48000, 2, 3, 0),
	},
	{
		name:    "aac 44.1 kHz mono fragmented into 100-byte packets",
		format:  aacFormat(44100, 1),
		outRate: 16000,
		render:  aacPackets(44100, 1, 1, 100),
	},
	{
		name:    "aac-latm 48 kHz stereo configured by SDP (cpresent=0)",
		format:  latmFormat(48000, 2),
		outRate: 16000,
		render:  latmPackets(48000, 2, false),
	},
	{
		name:    "aac-latm 44.1 kHz stereo configured in-band on a 90 kHz clock (cpresent=1)",
		format:  audio.Format{Codec: audio.CodecAACLATM, Channels: 2, ClockRate: 90000},
		outRate: 16000,
		render:  latmPackets(44100, 2, true),
	},
	{
		name:    "he-aac 24 kHz core signalled with SBR decodes at 48 kHz, downmixed and downsampled",
		format:  audio.Format{Codec: audio.CodecAAC, SampleRate: 48000, Channels: 2, AAC: audio.AACConfig{Config: heAACASC, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}},
		outRate: 16000,
		render:  sbrPackets(aacPackets(24000, 2, 1, 0)),
	},
	{
		name:    "aac-latm 48 kHz stereo under GStreamer's rtpmp4apay config (SBR sync extension, sbrPresentFlag 0)",
		format:  audio.Format{Codec: audio.CodecAACLATM, SampleRate: 48000, Channels: 2, AAC: audio.AACConfig{Config: "\x40\x00\x23\x20\xad\xca\x00"}},
		outRate: 16000,
		render:  gstLATMPackets(48000, 2),
	},
	{
		name:    "mpa Layer II (mp2) 48 kHz stereo, two frames a packet, on a 90 kHz clock",
		format:  audio.Format{Codec: audio.CodecMPA, Channels: 1, ClockRate: 90000},
		outRate: 16000,
		render:  mpaPackets("mp2", 48000, 2, 128000, 2, 1),
	},
	{
		name:    "mpa Layer III (mp3) 44.1 kHz mono, one frame a packet",
		format:  audio.Format{Codec: audio.CodecMPA, Channels: 1, ClockRate: 90000},
		outRate: 16000,
		render:  mpaPackets("libmp3lame", 44100, 1, 64000, 1, 1),
	},
	{
		name:    "mpa MPEG-2 Layer III 16 kHz mono, 576-sample frames",
		format:  audio.Format{Codec: audio.CodecMPA, Channels: 1, ClockRate: 90000},
		outRate: 16000,
		render:  mpaPackets("libmp3lame", 16000, 1, 32000, 1, 2),
	},
	{
		name:     "amr 12.2 kbit/s octet-aligned, one frame a packet, upsampled to 16 kHz",
		format:   audio.Format{Codec: audio.CodecAMR, SampleRate: 8000, Channels: 1, AMR: audio.AMRConfig{OctetAligned: true}},
		outRate:  16000,
		render:   amrPackets("speech_8k.amr", 8000, true, 1),
		fidelity: 0.8,
	},
	{
		name:     "amr 12.2 kbit/s bandwidth-efficient, three frames a packet",
		format:   audio.Format{Codec: audio.CodecAMR, SampleRate: 8000, Channels: 1},
		outRate:  16000,
		render:   amrPackets("speech_8k.amr", 8000, false, 3),
		fidelity: 0.8,
	},
	{
		name:    "amr-wb 19.85 kbit/s bandwidth-efficient, one frame a packet",
		format:  audio.Format{Codec: audio.CodecAMRWB, SampleRate: 16000, Channels: 1},
		outRate: 16000,
		render:  amrPackets("speech_16k.awb", 16000, false, 1),
	},
	{
		name:    "amr-wb 19.85 kbit/s octet-aligned, two frames a packet",
		format:  audio.Format{Codec: audio.CodecAMRWB, SampleRate: 16000, Channels: 1, AMR: audio.AMRConfig{OctetAligned: true}},
		outRate: 16000,
		render:  amrPackets("speech_16k.awb", 16000, true, 2),
	},
	{
		name:    "g722 16 kHz audio on an 8 kHz clock",
		format:  audio.Format{Codec: audio.CodecG722, SampleRate: 16000, Channels: 1},
		outRate: 16000,
		render:  every(160, adpcmPackets("g722", 16000, 64000, 160)),
	},
}, g726Cases()...)

// g726Cases covers every G.726 bit rate in both packings.
func g726Cases() []decoderCase {
	var cases []decoderCase
	for _, aal2 := range []bool{false, true} {
		for _, kbps := range []int{16, 24, 32, 40} {
			enc, packing := "g726le", "RFC 3551"
			if aal2 {
				enc, packing = "g726", "AAL2"
			}
			cases = append(cases, decoderCase{
				name:    audio.G726Codec(kbps, aal2) + " with the " + packing + " packing is upsampled to 16 kHz",
				format:  audio.Format{Codec: audio.G726Codec(kbps, aal2), SampleRate: 8000, Channels: 1},
				outRate: 16000,
				render:  every(160, adpcmPackets(enc, 8000, kbps*1000, 20*kbps/8)),
			})
		}
	}
	return cases
}

// loadClip reads a mono speech clip from the loadtest fixtures.
func loadClip(tb testing.TB, name string, wantRate int) []int16 {
	tb.Helper()
	b, err := os.ReadFile("../../loadtest/testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	rate, channels, samples, err := audio.ReadWAV(b)
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
	r, err := audio.NewResampler(16000, rate)
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
		enc, err := audio.EncodeG711(codec, loadClip(tb, "speech_8k.wav", 8000))
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

// aacAUs encodes the clip at rate with libavcodec's AAC encoder and
// returns its access units and AudioSpecificConfig. The encoder's priming
// frame is dropped, so that the decoded audio lines up with the clip.
func aacAUs(tb testing.TB, rate, channels int) (aus [][]byte, asc []byte) {
	tb.Helper()
	s, err := avenc.Encode(avenc.Config{Codec: "aac", SampleRate: rate, Channels: channels, BitRate: 48000 * channels},
		interleave(speechAt(tb, rate), channels))
	if err != nil {
		tb.Fatal(err)
	}
	// libavcodec appends an explicit "no SBR" sync extension, which
	// mediacommon does not write; the fields must agree.
	var got mpeg4audio.AudioSpecificConfig
	if err := got.Unmarshal(s.Extradata); err != nil || got.Type != mpeg4audio.ObjectTypeAACLC || got.SampleRate != rate || got.ChannelCount != channels {
		tb.Fatalf("encoder's AudioSpecificConfig %x is %+v, %v", s.Extradata, got, err)
	}
	return s.Packets[s.Delay/s.FrameSize:], s.Extradata
}

// aacASC returns the AudioSpecificConfig of AAC-LC at rate, as mediacommon
// marshals it.
func aacASC(rate, channels int) string {
	b, err := (&mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: rate, ChannelCount: channels}).Marshal()
	if err != nil {
		panic(err)
	}
	return string(b)
}

func aacFormat(rate, channels int) audio.Format {
	return audio.Format{Codec: audio.CodecAAC, SampleRate: rate, Channels: channels,
		AAC: audio.AACConfig{Config: aacASC(rate, channels), SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}}
}

// aacPackets packs perPacket access units a packet with gortsplib's
// RFC 3640 encoder (AAC-hbr), or, with fragment > 0, splits each access
// unit into fragments of that many bytes, every AU header giving the whole
// unit's size (RFC 3640 §3.2.1.1, as FFmpeg sends them).
func aacPackets(rate, channels, perPacket, fragment int) func(testing.TB) []payload {
	return func(tb testing.TB) []payload {
		tb.Helper()
		aus, _ := aacAUs(tb, rate, channels)
		var out []payload
		if fragment > 0 {
			for i, au := range aus {
				for off := 0; off < len(au); off += fragment {
					data := []byte{0, 16, byte(len(au) >> 5), byte(len(au) << 3)}
					data = append(data, au[off:min(off+fragment, len(au))]...)
					out = append(out, payload{data: data, marker: off+fragment >= len(au), ts: uint32(i * 1024)})
				}
			}
			return out
		}
		enc := &rtpmpeg4audio.Encoder{PayloadType: 97, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
		if err := enc.Init(); err != nil {
			tb.Fatal(err)
		}
		for i := 0; i+perPacket <= len(aus); i += perPacket {
			pkts, err := enc.Encode(aus[i : i+perPacket])
			if err != nil || len(pkts) != 1 {
				tb.Fatalf("rtpmpeg4audio: %d packets, %v", len(pkts), err)
			}
			out = append(out, payload{data: pkts[0].Payload, marker: pkts[0].Marker, ts: uint32(i * 1024)})
		}
		return out
	}
}

// heAACASC is an explicitly (hierarchically) signalled HE-AAC config: SBR,
// 24 kHz AAC-LC stereo core, 48 kHz output. libavcodec runs SBR over an
// AAC-LC stream that carries no SBR data, doubling its rate.
var heAACASC = string([]byte{0x2b, 0x11, 0x88, 0x00})

// sbrPackets restamps one-access-unit packets of a 24 kHz core on the
// 48 kHz clock of HE-AAC's output, and drops the first: SBR's filter banks
// delay the output by 24 ms, which that access unit's 43 ms bring back
// within the fidelity test's lag.
func sbrPackets(render func(testing.TB) []payload) func(testing.TB) []payload {
	return func(tb testing.TB) []payload {
		out := render(tb)[1:]
		for i := range out {
			out[i].ts = uint32(i * 2048)
		}
		return out
	}
}

// gstLATMPackets packs access units as GStreamer's rtpmp4apay does, one
// AudioMuxElement a packet under a config of the encoder's whole
// AudioSpecificConfig; it checks that config is the one the case announces.
func gstLATMPackets(rate, channels int) func(testing.TB) []payload {
	return func(tb testing.TB) []payload {
		tb.Helper()
		aus, asc := aacAUs(tb, rate, channels)
		cfg := make([]byte, len(asc)+2)
		cfg[0] = 0x40
		for i, b := range asc {
			cfg[i+1] |= b >> 7
			cfg[i+2] |= b << 1
		}
		if want := "\x40\x00\x23\x20\xad\xca\x00"; string(cfg) != want {
			tb.Fatalf("rtpmp4apay's config would be %x, want %x", cfg, want)
		}
		var out []payload
		for i, au := range aus {
			var b []byte
			for n := len(au); ; n -= 255 {
				b = append(b, byte(min(n, 255)))
				if n < 255 {
					break
				}
			}
			out = append(out, payload{data: append(b, au...), marker: true, ts: uint32(i * 1024)})
		}
		return out
	}
}

func latmFormat(rate, channels int) audio.Format {
	b, err := aactest.LATMConfig(rate, channels).Marshal()
	if err != nil {
		panic(err)
	}
	return audio.Format{Codec: audio.CodecAACLATM, SampleRate: rate, Channels: channels, AAC: audio.AACConfig{Config: string(b)}}
}

// latmPackets puts one access unit a packet in an AudioMuxElement marshaled
// by mediacommon. In-band, every fourth element carries the StreamMuxConfig
// and the others set useSameStreamMux, and the timestamps run at 90 kHz.
func latmPackets(rate, channels int, inBand bool) func(testing.TB) []payload {
	return func(tb testing.TB) []payload {
		tb.Helper()
		aus, _ := aacAUs(tb, rate, channels)
		cfg := aactest.LATMConfig(rate, channels)
		var out []payload
		for i, au := range aus {
			e := mpeg4audio.AudioMuxElement{
				MuxConfigPresent: inBand,
				UseSameStreamMux: i%4 != 0,
				StreamMuxConfig:  cfg,
				Payloads:         [][][][]byte{{{au}}},
			}
			b, err := e.Marshal()
			if err != nil {
				tb.Fatal(err)
			}
			ts := uint32(i * 1024)
			if inBand {
				ts = uint32(int64(i) * 1024 * 90000 / int64(rate))
			}
			out = append(out, payload{data: b, marker: true, ts: ts})
		}
		return out
	}
}

// mpaPackets encodes the clip at rate with a libavcodec MPEG audio
// encoder and packs perPacket frames a payload after RFC 2250's 4-byte
// header, stamped on the 90 kHz clock. The first skip frames, which the
// encoder's delay fills, are dropped so that the output lines up with the
// clip.
func mpaPackets(codec string, rate, channels, bitRate, perPacket, skip int) func(testing.TB) []payload {
	return func(tb testing.TB) []payload {
		tb.Helper()
		s, err := avenc.Encode(avenc.Config{Codec: codec, SampleRate: rate, Channels: channels, BitRate: bitRate},
			interleave(speechAt(tb, rate), channels))
		if err != nil {
			tb.Fatal(err)
		}
		frames := s.Packets[skip:]
		var out []payload
		for i := 0; i+perPacket <= len(frames); i += perPacket {
			data := slices.Concat(append([][]byte{{0, 0, 0, 0}}, frames[i:i+perPacket]...)...)
			out = append(out, payload{data: data, marker: true, ts: uint32(int64(i) * int64(s.FrameSize) * 90000 / int64(rate))})
		}
		return out
	}
}

// amrPackets packs perPacket frames a payload of the pre-encoded clip
// (loadtest/testdata; libavcodec has no AMR encoder here, so GStreamer's
// amrnbenc and voamrwbenc made them once).
func amrPackets(file string, rate int, octetAligned bool, perPacket int) func(testing.TB) []payload {
	return func(tb testing.TB) []payload {
		tb.Helper()
		b, err := os.ReadFile("../../loadtest/testdata/" + file)
		if err != nil {
			tb.Fatal(err)
		}
		frames, wb, err := audio.ReadAMR(b)
		if err != nil {
			tb.Fatal(err)
		}
		var out []payload
		for i := 0; i+perPacket <= len(frames); i += perPacket {
			data, err := audio.AMRPayload(frames[i:i+perPacket], wb, octetAligned)
			if err != nil {
				tb.Fatal(err)
			}
			out = append(out, payload{data: data, marker: i == 0, ts: uint32(i * rate / 50)})
		}
		return out
	}
}

// adpcmPackets encodes the clip (8 or 16 kHz) with a libavcodec ADPCM
// encoder and cuts the bit stream into payloads of size bytes.
func adpcmPackets(codec string, rate, bitRate, size int) func(testing.TB) [][]byte {
	return func(tb testing.TB) [][]byte {
		tb.Helper()
		clip := speech16k(tb)
		if rate == 8000 {
			clip = loadClip(tb, "speech_8k.wav", 8000)
		}
		s, err := avenc.Encode(avenc.Config{Codec: codec, SampleRate: rate, Channels: 1, BitRate: bitRate}, clip[:len(clip)/160*160])
		if err != nil {
			tb.Fatal(err)
		}
		return cut(slices.Concat(s.Packets...), size)
	}
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
func decodeAll(tb testing.TB, f audio.Format, outRate int, packets []payload) []int16 {
	tb.Helper()
	d, err := New(f, outRate)
	if err != nil {
		tb.Fatal(err)
	}
	defer d.Close()
	var out []int16
	for i, p := range packets {
		s, err := d.Decode(p.data, p.marker)
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
