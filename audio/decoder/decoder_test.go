package decoder

import (
	"cmp"
	"encoding/binary"
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/audio/internal/aactest"
)

// fidelityThreshold is the correlation with the reference clip that a
// correct decode reaches and a decode with the wrong byte order, table or
// rate does not.
const fidelityThreshold = 0.9

// maxFidelityLag covers Opus's algorithmic delay (6.5 ms) plus the
// resampler's group delay (up to 4 ms), in samples at 16 kHz (20 ms).
const maxFidelityLag = 320

func newTestDecoder(tb testing.TB, f audio.Format, outRate int) *Decoder {
	tb.Helper()
	d, err := New(f, outRate)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(d.Close)
	return d
}

// auHeaders builds an AAC-hbr payload: a 16-bit AU header (13-bit size,
// 3-bit index 0) per size, then data.
func auHeaders(data []byte, sizes ...int) []byte {
	b := []byte{byte(16 * len(sizes) >> 8), byte(16 * len(sizes))}
	for _, s := range sizes {
		b = append(b, byte(s>>5), byte(s<<3))
	}
	return append(b, data...)
}

// withAU returns f with other RFC 3640 AU-header field widths.
func withAU(f audio.Format, size, index, delta int) audio.Format {
	f.AAC.SizeLength, f.AAC.IndexLength, f.AAC.IndexDeltaLength = size, index, delta
	return f
}

// latmLayers returns a StreamMuxConfig with layers AAC-LC layers.
func latmLayers(tb testing.TB, layers int) string {
	c := aactest.LATMConfig(48000, 2)
	for range layers - 1 {
		c.Programs[0].Layers = append(c.Programs[0].Layers, c.Programs[0].Layers[0])
	}
	b, err := c.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestDecoderReproducesSpeech(t *testing.T) {
	ref := speech16k(t)
	for _, c := range decoderCases {
		t.Run(c.name, func(t *testing.T) {
			packets := c.packets(t)
			d := newTestDecoder(t, c.format, c.outRate)
			clock := int64(c.format.RTPClockRate())
			var out []int16
			var ticks int64
			for i, p := range packets {
				s, err := d.Decode(p.data, p.marker)
				if err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
				out = append(out, s...)
				// The next packet's timestamp is where Ticks says this one
				// ends, and the output tracks that duration within the
				// rounding of the resampler and of a 90 kHz clock.
				if i+1 < len(packets) && p.ts+uint32(d.Ticks()) != packets[i+1].ts {
					t.Fatalf("packet %d at %d lasts %d ticks, but the next is at %d", i, p.ts, d.Ticks(), packets[i+1].ts)
				}
				ticks += int64(d.Ticks())
				if want := ticks * int64(c.outRate) / clock; int64(len(out)) < want-1 || int64(len(out)) > want+2 {
					t.Fatalf("after packet %d: %d samples for %d ticks, want %d", i, len(out), ticks, want)
				}
			}
			r, lag := bestCorrelation(ref, out, maxFidelityLag)
			t.Logf("correlation %.4f at lag %d", r, lag)
			want := fidelityThreshold
			if c.fidelity != 0 {
				want = c.fidelity
			}
			if r < want {
				t.Errorf("correlation with the reference clip is %.4f, want >= %.2f", r, want)
			}
		})
	}
}

// misdecodeCases decode a case's packets the way a plausible bug would,
// proving that TestDecoderReproducesSpeech's threshold catches such bugs.
var misdecodeCases = []struct {
	name    string
	base    string // decoderCases entry whose packets are used
	format  audio.Format
	outRate int
	mangle  func([]byte) []byte
}{
	{
		name:    "l16 read as little-endian",
		base:    "l16 48 kHz stereo is downmixed and downsampled to 16 kHz",
		format:  audio.Format{Codec: audio.CodecL16, SampleRate: 48000, Channels: 2},
		outRate: 16000,
		mangle:  swapBytes,
	},
	{
		name:    "l16 mono read as little-endian without resampling",
		base:    "l16 16 kHz mono passes through",
		format:  audio.Format{Codec: audio.CodecL16, SampleRate: 16000, Channels: 1},
		outRate: 16000,
		mangle:  swapBytes,
	},
	{
		name:    "l16 48 kHz taken for 32 kHz",
		base:    "l16 48 kHz stereo is downmixed and downsampled to 16 kHz",
		format:  audio.Format{Codec: audio.CodecL16, SampleRate: 32000, Channels: 2},
		outRate: 16000,
	},
	{
		name:    "pcma taken for 16 kHz, so not upsampled",
		base:    "pcma at 8 kHz is upsampled to 16 kHz",
		format:  audio.Format{Codec: audio.CodecPCMA, SampleRate: 16000, Channels: 1},
		outRate: 16000,
	},
	{
		name:    "pcmu expanded with the a-law table",
		base:    "pcmu at 8 kHz is upsampled to 16 kHz",
		format:  audio.Format{Codec: audio.CodecPCMA, SampleRate: 8000, Channels: 1},
		outRate: 16000,
	},
	{
		name:    "opus decoded at 8 kHz but taken for 16 kHz",
		base:    "opus mono packets encoded at 16 kHz decode at 16 kHz",
		format:  audio.Format{Codec: audio.CodecOpus, SampleRate: 48000, Channels: 2},
		outRate: 8000,
	},
	{
		name:    "aac at 48 kHz decoded with a 32 kHz AudioSpecificConfig",
		base:    "aac 48 kHz stereo, three access units per packet, downmixed and downsampled",
		format:  aacFormat(32000, 2),
		outRate: 16000,
	},
	{
		name:    "g726-32 decoded with the AAL2 packing",
		base:    "g726-32 with the RFC 3551 packing is upsampled to 16 kHz",
		format:  audio.Format{Codec: "aal2-g726-32", SampleRate: 8000, Channels: 1},
		outRate: 16000,
	},
	{
		name:    "aal2-g726-24 decoded with the RFC 3551 packing",
		base:    "aal2-g726-24 with the AAL2 packing is upsampled to 16 kHz",
		format:  audio.Format{Codec: "g726-24", SampleRate: 8000, Channels: 1},
		outRate: 16000,
	},
	{
		name:    "g726-40 decoded as g726-32",
		base:    "g726-40 with the RFC 3551 packing is upsampled to 16 kHz",
		format:  audio.Format{Codec: "g726-32", SampleRate: 8000, Channels: 1},
		outRate: 16000,
	},
}

func TestDecoderMisdecodeFailsFidelity(t *testing.T) {
	ref := speech16k(t)
	for _, m := range misdecodeCases {
		t.Run(m.name, func(t *testing.T) {
			packets := caseNamed(t, m.base).packets(t)
			if m.mangle != nil {
				for i, p := range packets {
					packets[i].data = m.mangle(p.data)
				}
			}
			out := decodeAll(t, m.format, m.outRate, packets)
			r, lag := bestCorrelation(ref, out, maxFidelityLag)
			t.Logf("correlation %.4f at lag %d", r, lag)
			if r >= fidelityThreshold {
				t.Errorf("correlation %.4f passes the %.2f threshold; the fidelity test would miss this bug", r, fidelityThreshold)
			}
		})
	}
}

func swapBytes(p []byte) []byte {
	q := slices.Clone(p)
	for i := 0; i+1 < len(q); i += 2 {
		q[i], q[i+1] = q[i+1], q[i]
	}
	return q
}

// TestG726PackingsAgree repacks RFC 3551 payloads, whose code words fill
// each byte from its least significant bit, into the AAL2 order of ITU-T
// I.366.2, most significant bit first, as the two specifications describe
// them: both decoders must then produce the same audio.
func TestG726PackingsAgree(t *testing.T) {
	for _, kbps := range []int{16, 24, 32, 40} {
		t.Run(audio.G726Codec(kbps, false), func(t *testing.T) {
			packets := caseNamed(t, audio.G726Codec(kbps, false)+" with the RFC 3551 packing is upsampled to 16 kHz").packets(t)[:50]
			aal2 := make([]payload, len(packets))
			for i, p := range packets {
				aal2[i] = payload{data: repackAAL2(p.data, kbps/8), marker: true}
			}
			f := audio.Format{Codec: audio.G726Codec(kbps, false), SampleRate: 8000, Channels: 1}
			want := decodeAll(t, f, 16000, packets)
			f.Codec = audio.G726Codec(kbps, true)
			if got := decodeAll(t, f, 16000, aal2); !slices.Equal(got, want) {
				t.Error("the AAL2 decoder decodes the repacked code words differently")
			}
		})
	}
}

// repackAAL2 reads code words of bits bits least significant bit first and
// writes them most significant bit first.
func repackAAL2(le []byte, bits int) []byte {
	be := make([]byte, len(le))
	for k := range 8 * len(le) / bits {
		var v int
		for i := range bits {
			j := k*bits + i
			v |= int(le[j/8]>>(j%8)&1) << i
		}
		for i := range bits {
			j := k*bits + i
			be[j/8] |= byte(v>>(bits-1-i)&1) << (7 - j%8)
		}
	}
	return be
}

func TestDecoderSteadyStateDoesNotAllocate(t *testing.T) {
	for _, c := range decoderCases {
		t.Run(c.name, func(t *testing.T) {
			packets := c.packets(t)
			d := newTestDecoder(t, c.format, c.outRate)
			for _, p := range packets[:10] {
				if _, err := d.Decode(p.data, p.marker); err != nil {
					t.Fatal(err)
				}
			}
			i := 10
			allocs := testing.AllocsPerRun(100, func() {
				p := packets[i%len(packets)]
				if _, err := d.Decode(p.data, p.marker); err != nil {
					t.Fatal(err)
				}
				i++
			})
			if allocs != 0 {
				t.Errorf("Decode allocates %.1f times per packet", allocs)
			}
			if c.format.Codec != audio.CodecOpus {
				return
			}
			allocs = testing.AllocsPerRun(100, func() {
				if _, ok := d.Conceal(packets[i%len(packets)].data, 960); !ok {
					t.Fatal("Conceal failed")
				}
				i++
			})
			if allocs != 0 {
				t.Errorf("Conceal allocates %.1f times per loss", allocs)
			}
		})
	}
}

func TestDecoderResetForgetsHistory(t *testing.T) {
	for _, c := range decoderCases {
		t.Run(c.name, func(t *testing.T) {
			packets := c.packets(t)
			want := decodeAll(t, c.format, c.outRate, packets[:3])
			d := newTestDecoder(t, c.format, c.outRate)
			// Packet 48 starts where in-band LATM carries its configuration;
			// a fragmented access unit is entered at its first fragment (the
			// packet after one with the marker bit), wherever the clip's
			// frame sizes put it.
			start := 48
			if i := slices.IndexFunc(packets[47:59], func(p payload) bool { return p.marker }); i >= 0 {
				start = 48 + i
			}
			for _, p := range packets[start : start+12] {
				if _, err := d.Decode(p.data, p.marker); err != nil {
					t.Fatal(err)
				}
			}
			d.Reset()
			var got []int16
			for _, p := range packets[:3] {
				s, err := d.Decode(p.data, p.marker)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, s...)
			}
			if !slices.Equal(got, want) {
				t.Error("after Reset the decoder's output differs from a fresh decoder's")
			}
			// Gaps are frequent on bad networks: Opus and the codecs
			// decoded in Go reset in place. (libavcodec reopens in C.)
			if d.av == nil {
				if allocs := testing.AllocsPerRun(20, d.Reset); allocs != 0 {
					t.Errorf("Reset allocates %.0f times", allocs)
				}
			}
		})
	}
}

func TestNewDecoderRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		format  audio.Format
		outRate int
		want    string
		is      error
	}{
		{"an unknown codec wraps audio.ErrUnsupportedCodec", audio.Format{Codec: "mp3", SampleRate: 48000, Channels: 2}, 16000, `"mp3"`, audio.ErrUnsupportedCodec},
		{"AAC Main is refused", audio.Format{Codec: audio.CodecAAC, SampleRate: 48000, Channels: 2, AAC: audio.AACConfig{Config: "\x09\x90", SizeLength: 13}},
			16000, "MPEG-4 audio object type 1 (AAC-LC, type 2, is decoded, with SBR or PS)", audio.ErrUnsupportedCodec},
		{"an AAC config that does not parse is refused", audio.Format{Codec: audio.CodecAAC, SampleRate: 16000, Channels: 1, AAC: audio.AACConfig{Config: "\x14", SizeLength: 13}},
			16000, "new decoder: aac: AudioSpecificConfig 14: truncated", nil},
		{"AAC without sizelength is refused", withAU(aacFormat(16000, 1), 0, 3, 3), 16000, "sizelength 0 is outside 1..16", nil},
		{"AAC with absurd AU-header fields is refused", withAU(aacFormat(16000, 1), 13, 40, 3), 16000, "indexlength 40 or indexdeltalength 3 is outside 0..16", nil},
		{"LATM with two layers is refused", audio.Format{Codec: audio.CodecAACLATM, SampleRate: 48000, Channels: 2, AAC: audio.AACConfig{Config: latmLayers(t, 2)}},
			16000, "2 layers, only one of each is supported", nil},
		{"LATM configured in-band needs its clock rate", audio.Format{Codec: audio.CodecAACLATM, Channels: 2}, 16000, "invalid clock rate 0", nil},
		{"g722 at 8 kHz is refused", audio.Format{Codec: audio.CodecG722, SampleRate: 8000, Channels: 1}, 16000, "invalid sample rate 8000 for g722, want 16000", nil},
		{"stereo g726 is refused", audio.Format{Codec: "g726-32", SampleRate: 8000, Channels: 2}, 16000, "invalid channel count 2 for g726-32, want 1", nil},
		{"g726 at an unknown bit rate is refused", audio.Format{Codec: "g726-48", SampleRate: 8000, Channels: 1}, 16000, `"g726-48"`, audio.ErrUnsupportedCodec},
		{"an output rate below 8 kHz is refused", audio.Format{Codec: audio.CodecPCMU, SampleRate: 8000, Channels: 1}, 7999, "output rate 7999 Hz is outside 8000..48000", nil},
		{"an output rate above 48 kHz is refused", audio.Format{Codec: audio.CodecOpus, SampleRate: 48000, Channels: 2}, 48001, "output rate 48001 Hz", nil},
		{"a channel count of zero is refused", audio.Format{Codec: audio.CodecL16, SampleRate: 16000, Channels: 0}, 16000, "invalid channel count 0", nil},
		{"a rate ratio needing a huge filter is refused", audio.Format{Codec: audio.CodecL16, SampleRate: 44101, Channels: 1}, 16000, "exceed the 32768-coefficient limit", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := New(tc.format, tc.outRate)
			if err == nil {
				t.Fatalf("New(%v, %d) = %v, want an error", tc.format, tc.outRate, d)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q does not wrap %q", err, tc.is)
			}
		})
	}
}

func TestDecoderRejectsMalformedPayloadsAndStaysUsable(t *testing.T) {
	const (
		aac16k     = "aac 16 kHz mono, one access unit per packet"
		latm48k    = "aac-latm 48 kHz stereo configured by SDP (cpresent=0)"
		latmInBand = "aac-latm 44.1 kHz stereo configured in-band on a 90 kHz clock (cpresent=1)"
	)
	for _, tc := range []struct {
		name    string
		base    string
		payload []byte
		want    string
	}{
		{"an empty opus payload", decoderCases[0].name, nil, "decode opus: empty payload"},
		// TOC code 3 with a frame count of 0 is invalid (RFC 6716 §3.2.5).
		{"an opus packet with zero frames", decoderCases[0].name, []byte{0x03, 0x00}, "decode opus payload of 2 bytes: opus: corrupted stream"},
		{"an empty pcma payload", "pcma at 8 kHz is upsampled to 16 kHz", []byte{}, "decode pcma: empty payload"},
		{"an l16 stereo payload cut mid-frame", "l16 48 kHz stereo is downmixed and downsampled to 16 kHz", make([]byte, 6), "decode l16: payload of 6 bytes is not a whole number of 2-channel 16-bit frames"},
		{"an odd-length l16 mono payload", "l16 16 kHz mono passes through", make([]byte, 3), "decode l16: payload of 3 bytes is not a whole number of 1-channel 16-bit frames"},
		{"aac AU headers that overrun the payload", aac16k, []byte{0, 64, 0, 8}, "decode aac payload of 4 bytes: AU headers of 64 bits exceed the 4-byte payload"},
		{"an aac access unit of absurd size", aac16k, auHeaders(make([]byte, 9), 7000), "decode aac payload of 13 bytes: AU header 0: access unit of 7000 bytes exceeds 6144"},
		{"an aac access unit libavcodec rejects", aac16k, auHeaders([]byte{0}, 1), "decode aac access unit 1 of 1 (1 bytes): invalid data"},
		{"an aac access unit that holds no audio", aac16k, auHeaders([]byte{0xE0}, 1),
			"decode aac access unit 1 of 1 (1 bytes): access unit decoded to the wrong duration: 0 samples at 0 Hz, want 1024 at 16000 Hz"},
		{"a truncated latm element", latm48k, []byte{200, 1, 2, 3}, "decode aac-latm payload of 4 bytes: AudioMuxElement at byte 0 of 4: access unit of 200 bytes: truncated"},
		{"in-band latm before its first configuration", latmInBand, []byte{0x80 | 2>>1, 0, 1 << 7}, "decode aac-latm payload of 3 bytes: AudioMuxElement at byte 0 of 3: no StreamMuxConfig received yet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := caseNamed(t, tc.base)
			packets := c.packets(t)
			want := decodeAll(t, c.format, c.outRate, packets[:2])
			d := newTestDecoder(t, c.format, c.outRate)
			if s, err := d.Decode(tc.payload, true); err == nil || err.Error() != tc.want {
				t.Fatalf("Decode = %d samples, %v; want error %q", len(s), err, tc.want)
			}
			var got []int16
			for _, p := range packets[:2] {
				s, err := d.Decode(p.data, p.marker)
				if err != nil {
					t.Fatalf("after the malformed payload: %v", err)
				}
				got = append(got, s...)
			}
			if !slices.Equal(got, want) {
				t.Error("the malformed payload changed the decoding of the packets after it")
			}
		})
	}

	d := newTestDecoder(t, audio.Format{Codec: audio.CodecPCMU, SampleRate: 8000, Channels: 2}, 16000)
	const want = "decode pcmu: payload of 3 bytes is not a whole number of 2-channel frames"
	if _, err := d.Decode(make([]byte, 3), true); err == nil || err.Error() != want {
		t.Errorf("Decode of a pcmu stereo payload cut mid-frame: %v, want %q", err, want)
	}
}

func TestDecoderDownmixAveragesWithoutOverflow(t *testing.T) {
	be := func(v ...int16) []byte {
		b := make([]byte, 2*len(v))
		for i, x := range v {
			binary.BigEndian.PutUint16(b[2*i:], uint16(x))
		}
		return b
	}
	for _, tc := range []struct {
		name    string
		format  audio.Format
		payload []byte
		want    []int16
	}{
		{"l16 stereo at full scale", audio.Format{Codec: audio.CodecL16, SampleRate: 16000, Channels: 2},
			be(32767, 32767, -32768, -32768, 32767, -32768, 1000, 3000), []int16{32767, -32768, 0, 2000}},
		{"l16 with three channels", audio.Format{Codec: audio.CodecL16, SampleRate: 16000, Channels: 3},
			be(30000, 30000, 30000, -3, 0, 0), []int16{30000, -1}},
		// A-law 0xD5 is +8 and 0x55 is -8.
		{"pcma stereo", audio.Format{Codec: audio.CodecPCMA, SampleRate: 16000, Channels: 2},
			[]byte{0xD5, 0xD5, 0xD5, 0x55}, []int16{8, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDecoder(t, tc.format, 16000)
			got, err := d.Decode(tc.payload, true)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Decode = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDecoderConceal(t *testing.T) {
	opus := decoderCases[0]
	packets := opus.packets(t)
	ref := decodeAll(t, opus.format, opus.outRate, packets)
	frame := func(i int) []int16 { return ref[i*320 : (i+1)*320] }

	// conceal decodes up to packet lost, conceals it, and checks that the
	// decoder goes on with the packet after.
	conceal := func(lost int, next []byte, duration int) ([]int16, bool) {
		d := newTestDecoder(t, opus.format, opus.outRate)
		for _, p := range packets[:lost] {
			if _, err := d.Decode(p.data, p.marker); err != nil {
				t.Fatal(err)
			}
		}
		s, ok := d.Conceal(next, duration)
		s = slices.Clone(s)
		if _, err := d.Decode(packets[lost+1].data, true); err != nil {
			t.Errorf("Decode after Conceal: %v", err)
		}
		return s, ok
	}

	// Loss is judged on the loudest frames, where speech is voiced and
	// concealment has something to get right; what a frame decodes to when
	// received is the reference.
	loudest := make([]int, 0, len(packets)-2)
	for i := 1; i < len(packets)-1; i++ {
		loudest = append(loudest, i)
	}
	energy := func(i int) float64 { return sqDiff(frame(i), make([]int16, 320)) }
	slices.SortFunc(loudest, func(a, b int) int { return cmp.Compare(energy(b), energy(a)) })
	var fecErr, plcErr, total float64
	for _, i := range loudest[:8] {
		fec, ok := conceal(i, packets[i+1].data, 960)
		if !ok || len(fec) != 320 {
			t.Fatalf("FEC for packet %d = %d samples, ok %v; want 320, true", i, len(fec), ok)
		}
		plc, ok := conceal(i, nil, 960)
		if !ok || len(plc) != 320 {
			t.Fatalf("PLC for packet %d = %d samples, ok %v; want 320, true", i, len(plc), ok)
		}
		fecErr += sqDiff(fec, frame(i))
		plcErr += sqDiff(plc, frame(i))
		total += energy(i)
	}
	t.Logf("error energy relative to the lost frames: FEC %.3f, PLC %.3f", fecErr/total, plcErr/total)
	if fecErr >= plcErr/2 {
		t.Error("FEC concealment is not clearly closer to the lost audio than PLC: the FEC data is not used")
	}
	if fecErr >= total/2 {
		t.Errorf("FEC concealment error is %.2f of the lost frames' energy, want < 0.5", fecErr/total)
	}
	if s, ok := conceal(loudest[0], []byte{0x03, 0x00}, 960); !ok || len(s) != 320 {
		t.Errorf("Conceal with a malformed next packet = %d samples, ok %v; want PLC's 320, true", len(s), ok)
	}

	for _, tc := range []struct {
		name   string
		lost   int
		want   int
		wantOK bool
	}{
		{"10 ms at 48 kHz is 160 samples at 16 kHz", 480, 160, true},
		{"2 ms rounds to one 2.5 ms step", 96, 40, true},
		{"120 ms is the longest Opus packet", 5760, 1920, true},
		{"more than 120 ms is a gap", 5761 + 120, 0, false},
		{"under 1.25 ms rounds to nothing", 59, 0, false},
		{"no loss conceals nothing", 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if s, ok := conceal(loudest[0], nil, tc.lost); len(s) != tc.want || ok != tc.wantOK {
				t.Errorf("Conceal(nil, %d) = %d samples, %v; want %d, %v", tc.lost, len(s), ok, tc.want, tc.wantOK)
			}
		})
	}

	for _, c := range decoderCases {
		if c.format.Codec == audio.CodecOpus {
			continue
		}
		d := newTestDecoder(t, c.format, c.outRate)
		if s, ok := d.Conceal(c.packets(t)[0].data, 160); ok || s != nil {
			t.Errorf("%s: Conceal = %d samples, %v; want nil, false", c.name, len(s), ok)
		}
	}
}

func sqDiff(a, b []int16) float64 {
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return s
}

func TestDecoderOpusAtARateLibopusLacksIsResampled(t *testing.T) {
	c := decoderCases[0]
	d := newTestDecoder(t, c.format, 22050)
	var total int
	for i, p := range c.packets(t) {
		s, err := d.Decode(p.data, p.marker)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		total += len(s)
		if want := (i + 1) * 441; total != want {
			t.Fatalf("after packet %d: %d samples, want %d", i, total, want)
		}
	}
	if s, ok := d.Conceal(nil, 960); !ok || len(s) != 441 {
		t.Errorf("Conceal = %d samples, %v; want 441, true", len(s), ok)
	}
}

// TestStreamMemoryIsWithinBudget measures what one stream's Decoder and a
// 1 s audio.Chunker at 16 kHz keep on the heap once they have decoded a few
// packets, against the service's budget of 128 KiB per stream, and what
// libavcodec holds in C for the codecs it decodes.
func TestStreamMemoryIsWithinBudget(t *testing.T) {
	const streams, budget = 32, 128 << 10
	for _, c := range decoderCases {
		// Copies, so that the clip the packets were cut from is garbage
		// before the first measurement rather than between the two.
		var packets []payload
		for _, p := range c.packets(t)[:8] {
			p.data = slices.Clone(p.data)
			packets = append(packets, p)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		cBefore := cHeapBytes()
		decoders := make([]*Decoder, streams)
		chunkers := make([]*audio.Chunker, streams)
		for i := range decoders {
			decoders[i] = newTestDecoder(t, c.format, c.outRate)
			for _, p := range packets {
				if _, err := decoders[i].Decode(p.data, p.marker); err != nil {
					t.Fatal(err)
				}
			}
			var err error
			if chunkers[i], err = audio.NewChunker(c.outRate, time.Second); err != nil {
				t.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perStream := int64(after.HeapAlloc-before.HeapAlloc) / streams
		cPerStream := (cHeapBytes() - cBefore) / streams
		runtime.KeepAlive(decoders)
		runtime.KeepAlive(chunkers)
		runtime.KeepAlive(packets)
		t.Logf("%s: %.1f KiB per stream on the Go heap, %.1f KiB in C", c.name, float64(perStream)/1024, float64(cPerStream)/1024)
		if perStream > budget {
			t.Errorf("%s: %d bytes per stream, over the %d-byte budget", c.name, perStream, budget)
		}
		// libavcodec's AAC decoder allocates 535 KiB of SBR and parametric
		// stereo state per channel element up front: AAC streams exceed
		// the service's per-stream target, by design of FFmpeg 5.1.
		// The MPEG audio decoder's synthesis windows and Layer III
		// tables take 39 to 46 KiB.
		cBudget := int64(16 << 10)
		switch c.format.Codec {
		case audio.CodecAAC, audio.CodecAACLATM:
			cBudget = 800 << 10
		case audio.CodecMPA:
			cBudget = 64 << 10
		}
		if cPerStream > cBudget {
			t.Errorf("%s: %d bytes per stream in C, over %d", c.name, cPerStream, cBudget)
		}
	}
}

func TestDecoderCloseFreesCMemory(t *testing.T) {
	c := caseNamed(t, "aac 16 kHz mono, one access unit per packet")
	packets := c.packets(t)
	const n = 8
	before := cHeapBytes()
	for range n {
		d := newTestDecoder(t, c.format, c.outRate)
		for _, p := range packets[:4] {
			if _, err := d.Decode(p.data, p.marker); err != nil {
				t.Fatal(err)
			}
		}
		d.Close()
		d.Close() // idempotent
		if _, err := d.Decode(packets[0].data, true); !errors.Is(err, ErrClosed) {
			t.Fatalf("Decode after Close: %v, want ErrClosed", err)
		}
	}
	// One decoder's worth of slack for the allocator's own bookkeeping.
	if grown := cHeapBytes() - before; grown > 650<<10 {
		t.Errorf("C heap grew by %d KiB over %d decoders opened and closed", grown>>10, n)
	}
}

// maxDecoded bounds the output for a payload of n bytes in format c.
func maxDecoded(c decoderCase, n int) int {
	var frames int
	switch c.format.Codec {
	case audio.CodecOpus:
		return c.outRate*opusMaxFrame/1000 + 1
	case audio.CodecAAC, audio.CodecAACLATM, audio.CodecMPA, audio.CodecAMR, audio.CodecAMRWB:
		return maxPacketSeconds * c.outRate
	case audio.CodecPCMA, audio.CodecPCMU:
		frames = n / c.format.Channels
	case audio.CodecL16:
		frames = n / (2 * c.format.Channels)
	case audio.CodecG722:
		frames = 2 * n
	default:
		g726, _ := audio.LookupCodec(c.format.Codec)
		frames = 8 * n / g726.CodedBits
	}
	return frames*c.outRate/c.format.SampleRate + 1
}

func FuzzDecoder(f *testing.F) {
	for i, c := range decoderCases {
		p := c.packets(f)[40]
		f.Add(uint8(i), p.marker, p.data)
		f.Add(uint8(i), true, p.data[:len(p.data)-1])
		f.Add(uint8(i), true, []byte{})
	}
	f.Fuzz(func(t *testing.T, codec uint8, marker bool, payload []byte) {
		c := decoderCases[int(codec)%len(decoderCases)]
		d := newTestDecoder(t, c.format, c.outRate)
		first, err := d.Decode(payload, marker)
		if err == nil && len(first) > maxDecoded(c, len(payload)) {
			t.Fatalf("%d bytes decoded to %d samples, more than %d", len(payload), len(first), maxDecoded(c, len(payload)))
		}
		first = slices.Clone(first)
		d.Reset()
		again, err2 := d.Decode(payload, marker)
		if (err == nil) != (err2 == nil) || !slices.Equal(first, again) {
			t.Fatalf("decoding after Reset differs from a fresh decoder: %v, %v", err, err2)
		}
		if s, ok := d.Conceal(payload, 960); ok && len(s) != c.outRate/50 {
			t.Fatalf("Conceal of 20 ms = %d samples, want %d", len(s), c.outRate/50)
		}
	})
}

// BenchmarkDecoder reports, besides ns/op per packet, the cost of 20 ms of
// audio (ns/20ms), which compares codecs whose packets last differently.
func BenchmarkDecoder(b *testing.B) {
	for _, c := range decoderCases {
		b.Run(c.name, func(b *testing.B) {
			packets := c.packets(b)
			d := newTestDecoder(b, c.format, c.outRate)
			// The first packet sizes the buffers; b.Loop starts counting after.
			if _, err := d.Decode(packets[0].data, packets[0].marker); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			i, ticks := 1, 0
			for b.Loop() {
				p := packets[i%len(packets)]
				if _, err := d.Decode(p.data, p.marker); err != nil {
					b.Fatal(err)
				}
				ticks += d.Ticks()
				i++
			}
			frames := float64(ticks) / float64(c.format.RTPClockRate()) * 50
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/frames, "ns/20ms")
		})
	}
}
