package ingest

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/ingest/sdk"
	"github.com/earshot/earshot/loadtest/avenc"
	"github.com/earshot/earshot/sink/schema"
)

var (
	pcma8k = sdk.Codec{Name: audio.CodecPCMA, ClockRate: 8000, SampleRate: 8000, Channels: 1}
	l16_8k = sdk.Codec{Name: audio.CodecL16, ClockRate: 8000, SampleRate: 8000, Channels: 1}
)

// tlPacket is one packet of a timeline case: at is its arrival after the
// case's start.
type tlPacket struct {
	seq  uint16
	ts   uint32
	size int
	at   time.Duration
	ssrc uint32
}

// steady returns n packets of 20 ms of an 8 kHz clock, size bytes each,
// from seq and ts, arriving every every from at.
func steady(n int, seq uint16, ts uint32, size int, at, every time.Duration) []tlPacket {
	out := make([]tlPacket, n)
	for i := range out {
		out[i] = tlPacket{seq: seq + uint16(i), ts: ts + uint32(i)*160, size: size, at: at + time.Duration(i)*every}
	}
	return out
}

// join concatenates packet lists.
func join(lists ...[]tlPacket) []tlPacket {
	var out []tlPacket
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// with returns ps with f applied to each packet.
func with(ps []tlPacket, f func(*tlPacket)) []tlPacket {
	for i := range ps {
		f(&ps[i])
	}
	return ps
}

const ms20 = 20 * time.Millisecond

// timelineCases feed TestTimeline, BenchmarkTimeline and the seeds of
// FuzzTimeline. Every case is also held to the invariants of
// checkTimeline.
var timelineCases = []struct {
	name    string
	codec   sdk.Codec
	packets []tlPacket
	// audio is the audio written, in ms (±1 ms); gaps the gap records'
	// duration by reason, in ms.
	audio int64
	gaps  map[string]int64
	// Counters.
	trimmed, late, discontinuities uint64
	// tooFast is the index of the packet refused with ErrClockTooFast
	// (the epoch then ends and a new one begins); -1 for none.
	tooFast int
}{
	{name: "a steady stream is written whole", codec: pcma8k,
		packets: steady(50, 100, 1000, 160, 0, ms20), audio: 1000, tooFast: -1},
	{name: "the RTP sequence number wraps without a gap", codec: pcma8k,
		packets: steady(50, 65530, 1000, 160, 0, ms20), audio: 1000, tooFast: -1},
	{name: "the RTP timestamp wraps without a gap", codec: pcma8k,
		packets: steady(50, 7, math.MaxUint32-800, 160, 0, ms20), audio: 1000, tooFast: -1},
	{name: "two lost packets are a 40 ms rtp_loss gap", codec: pcma8k,
		packets: join(steady(10, 0, 0, 160, 0, ms20), steady(38, 12, 12*160, 160, 12*ms20, ms20)),
		audio:   960, gaps: map[string]int64{schema.ReasonRTPLoss: 40}, tooFast: -1},
	{name: "a packet overtaken by the next is late and its slot a gap", codec: pcma8k,
		packets: join(steady(10, 0, 0, 160, 0, ms20), steady(1, 11, 11*160, 160, 10*ms20, 0),
			steady(1, 10, 10*160, 160, 10*ms20, 0), steady(10, 12, 12*160, 160, 11*ms20, ms20)),
		audio: 420, gaps: map[string]int64{schema.ReasonRTPLoss: 20}, late: 1, tooFast: -1},
	{name: "a duplicate is late", codec: pcma8k,
		packets: join(steady(10, 0, 0, 160, 0, ms20), steady(11, 9, 9*160, 160, 10*ms20, ms20)),
		audio:   400, late: 1, tooFast: -1},
	{name: "a timestamp jump of 30 s is a discontinuity that loses nothing", codec: pcma8k,
		packets: join(steady(10, 0, 0, 160, 0, ms20), steady(10, 10, 240000+10*160, 160, 10*ms20, ms20)),
		audio:   400, discontinuities: 1, tooFast: -1},
	{name: "a timestamp jump of 5 s ahead of the arrival clock is a discontinuity", codec: pcma8k,
		packets: join(steady(10, 0, 0, 160, 0, ms20), steady(10, 10, 40000+10*160, 160, 10*ms20, ms20)),
		audio:   400, discontinuities: 1, tooFast: -1},
	{name: "a timestamp jump back of 2 s is a discontinuity", codec: pcma8k,
		packets: join(steady(10, 0, 100000, 160, 0, ms20), steady(10, 10, 100000-16000, 160, 10*ms20, ms20)),
		audio:   400, discontinuities: 1, tooFast: -1},
	{name: "a sequence jump of 30000 is a discontinuity, not loss", codec: pcma8k,
		packets: join(steady(10, 0, 0, 160, 0, ms20), steady(10, 30010, 10*160, 160, 10*ms20, ms20)),
		audio:   400, discontinuities: 1, tooFast: -1},
	{name: "3 s of lost packets, sequence and timestamps moving together, is an rtp_loss gap", codec: pcma8k,
		packets: join(steady(10, 0, 0, 160, 0, ms20), steady(10, 160, 160*160, 160, 160*ms20, ms20)),
		audio:   400, gaps: map[string]int64{schema.ReasonRTPLoss: 3000}, tooFast: -1},
	{name: "an SSRC change after 500 ms of silence is a discontinuity gap of 500 ms", codec: pcma8k,
		packets: join(steady(10, 0, 0, 160, 0, ms20), with(steady(10, 5000, 777, 160, 10*ms20+500*time.Millisecond, ms20), func(p *tlPacket) { p.ssrc = 9 })),
		audio:   400, gaps: map[string]int64{schema.ReasonDiscontinuity: 500}, discontinuities: 1, tooFast: -1},
	{name: "60000-byte L16 payloads every 20 ms are trimmed to their slots", codec: l16_8k,
		packets: steady(20, 0, 0, 60000, 0, ms20),
		// The first is cut at 300 ms, the others to their 20 ms.
		audio: 300 + 19*20, trimmed: 20, tooFast: -1},
	{name: "payloads twice their slot are trimmed to it", codec: pcma8k,
		packets: steady(50, 0, 0, 320, 0, ms20), audio: 40 + 49*20, trimmed: 49, tooFast: -1},
	{name: "a clock 33 times too fast is refused once 2 s ahead", codec: pcma8k,
		packets: steady(120, 0, 0, 160, 0, ms20/33), audio: 104*20 + 15*20, tooFast: 104},
	{name: "a clock 6 % fast is refused after 10 s", codec: pcma8k,
		packets: steady(560, 0, 0, 160, 0, ms20*100/106), audio: 531*20 + 28*20, tooFast: 531},
	{name: "a clock 1 % fast plays on", codec: pcma8k,
		packets: steady(600, 0, 0, 160, 0, ms20*100/101), audio: 600 * 20, tooFast: -1},
	{name: "a discontinuity on every packet meets the output ceiling", codec: l16_8k,
		packets: with(steady(100, 0, 0, 4000, 0, ms20), func(p *tlPacket) { p.ssrc = uint32(p.seq) }),
		// 250 ms each (25 s in 2 s); the ceiling passes a 5 s burst, then a
		// 250 ms packet each time 1.1x real time has refilled it.
		audio: 28 * 250, gaps: map[string]int64{schema.ReasonOutputCeiling: 72 * 250}, discontinuities: 99, tooFast: -1},
}

// tlRun drives a timeline with no socket: a fake clock at the last
// arrival, records kept in memory.
type tlRun struct {
	tl      *timeline
	c       counters
	records []schema.Record
	now     time.Time
	epoch   uint64
}

func newTLRun(tb testing.TB, codec sdk.Codec) *tlRun {
	r := &tlRun{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), epoch: 1}
	r.tl = newTimeline(timelineConfig{
		stream: "cam", sampleRate: 16000, chunk: ms20,
		now:  func() time.Time { return r.now },
		emit: func(rec schema.Record) { r.records = append(r.records, rec) },
	}, &r.c)
	if err := r.tl.begin(codec, r.epoch); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(r.tl.closeDecoder)
	return r
}

// payload is size bytes of a quiet tone, the same for every packet.
func payload(size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(0x55 ^ i%7)
	}
	return b
}

// feed processes ps, starting a new epoch after a packet is refused, as
// the stream does after reconnecting; it returns the refused indices.
func (r *tlRun) feed(tb testing.TB, ps []tlPacket) []int {
	var refused []int
	start := r.now
	for i, q := range ps {
		r.now = start.Add(q.at)
		p := &packet{data: payload(q.size), ts: q.ts, seq: q.seq, ssrc: q.ssrc, marker: true, arrival: r.now}
		if err := r.tl.process(p); err != nil {
			if !errors.Is(err, ErrClockTooFast) {
				tb.Fatalf("packet %d: %v", i, err)
			}
			refused = append(refused, i)
			r.tl.flush()
			r.tl.gap(schema.ReasonClockTooFast, r.tl.samples(max(time.Millisecond, r.tl.silence())))
			r.epoch++
			if err := r.tl.begin(r.tl.codec, r.epoch); err != nil {
				tb.Fatal(err)
			}
		}
	}
	r.tl.flush()
	r.tl.control(schema.KindEnd, schema.ReasonShutdown, 0)
	return refused
}

// tally sums the records: audio samples, and gap ms by reason.
func (r *tlRun) tally() (audioSamples int64, gaps map[string]int64) {
	gaps = map[string]int64{}
	for _, rec := range r.records {
		switch rec.Kind {
		case schema.KindAudio:
			audioSamples += int64(len(rec.PCM) / 2)
		case schema.KindGap:
			gaps[rec.Reason] += rec.GapMS
		}
	}
	return audioSamples, gaps
}

func TestTimeline(t *testing.T) {
	for _, c := range timelineCases {
		t.Run(c.name, func(t *testing.T) {
			r := newTLRun(t, c.codec)
			refused := r.feed(t, c.packets)
			checkTimeline(t, r, c.codec, c.packets)
			samples, gaps := r.tally()
			delete(gaps, schema.ReasonClockTooFast)
			if got := samples / 16; got < c.audio-1 || got > c.audio+1 {
				t.Errorf("%d ms of audio, want %d", got, c.audio)
			}
			for reason, want := range c.gaps {
				if gaps[reason] < want-1 || gaps[reason] > want+1 {
					t.Errorf("%d ms of %s gaps, want %d", gaps[reason], reason, want)
				}
			}
			for reason, got := range gaps {
				if _, ok := c.gaps[reason]; !ok {
					t.Errorf("unexpected %d ms of %s gaps", got, reason)
				}
			}
			if got := r.c.trimmed.Load(); got != c.trimmed {
				t.Errorf("%d packets trimmed, want %d", got, c.trimmed)
			}
			if got := r.c.late.Load(); got != c.late {
				t.Errorf("%d packets late, want %d", got, c.late)
			}
			if got := r.c.discontinuities.Load(); got != c.discontinuities {
				t.Errorf("%d discontinuities, want %d", got, c.discontinuities)
			}
			switch {
			case c.tooFast < 0 && len(refused) > 0:
				t.Errorf("packets %v refused as too fast", refused)
			case c.tooFast >= 0 && (len(refused) == 0 || refused[0] != c.tooFast):
				t.Errorf("packets %v refused as too fast, want %d first", refused, c.tooFast)
			}
		})
	}
}

// checkTimeline holds a run over ps to the timeline's invariants: offsets
// continuous within each epoch; audio no longer than the RTP timestamps
// imply (their forward steps, each at most maxTimestampJump, plus one
// packet of maxPacketDuration per segment, plus a sample of resampling per
// packet); and no more than the output ceiling allows over the arrival
// time.
func checkTimeline(tb testing.TB, r *tlRun, codec sdk.Codec, ps []tlPacket) {
	tb.Helper()
	var offset int64
	for i, rec := range r.records {
		if rec.Kind == schema.KindStart {
			offset = rec.Offset
		}
		if rec.Offset != offset {
			tb.Fatalf("record %d (%s, epoch %d seq %d) at offset %d, want %d", i, rec.Kind, rec.Epoch, rec.Seq, rec.Offset, offset)
		}
		switch rec.Kind {
		case schema.KindAudio:
			offset += int64(len(rec.PCM) / 2)
		case schema.KindGap:
			if rec.GapMS <= 0 {
				tb.Fatalf("record %d: gap of %d ms", i, rec.GapMS)
			}
			offset += rec.GapMS * 16
		}
	}
	samples, _ := r.tally()
	var steps int64
	for i := 1; i < len(ps); i++ {
		steps += min(max(0, int64(int32(ps[i].ts-ps[i-1].ts))), int64(maxTimestampJump*codec.ClockRate))
	}
	segments := 1 + int64(r.c.discontinuities.Load()) + int64(r.epoch-1)
	implied := steps*16000/int64(codec.ClockRate) + segments*int64(maxPacketDuration.Seconds()*16000) + int64(len(ps))
	if samples > implied {
		tb.Errorf("%d samples of audio, the RTP timestamps imply at most %d", samples, implied)
	}
	if len(ps) > 0 {
		wall := ps[len(ps)-1].at - ps[0].at
		bound := int64((outputCeiling*wall.Seconds() + ceilingBurst.Seconds()) * 16000)
		if samples > bound {
			tb.Errorf("%d samples of audio in %s of arrivals, the ceiling allows %d", samples, wall, bound)
		}
	}
}

// Timeline fuzz inputs: one byte of codec, then tlPacketSize bytes per
// packet (sequence, timestamp, payload size, arrival step in ms, SSRC).
const tlPacketSize = 11

var fuzzCodecs = []sdk.Codec{pcma8k, l16_8k}

func encodeTimelineInput(codec int, ps []tlPacket) []byte {
	b := []byte{byte(codec)}
	var prev time.Duration
	for _, p := range ps {
		b = binary.BigEndian.AppendUint16(b, p.seq)
		b = binary.BigEndian.AppendUint32(b, p.ts)
		b = binary.BigEndian.AppendUint16(b, uint16(min(p.size, math.MaxUint16)))
		b = binary.BigEndian.AppendUint16(b, uint16(min((p.at-prev)/time.Millisecond, math.MaxUint16)))
		b = append(b, byte(p.ssrc))
		// Arrival steps are whole milliseconds.
		prev += (p.at - prev) / time.Millisecond * time.Millisecond
	}
	return b
}

func decodeTimelineInput(b []byte) (sdk.Codec, []tlPacket) {
	if len(b) == 0 {
		return fuzzCodecs[0], nil
	}
	codec := fuzzCodecs[int(b[0])%len(fuzzCodecs)]
	var ps []tlPacket
	var at time.Duration
	for b = b[1:]; len(b) >= tlPacketSize; b = b[tlPacketSize:] {
		at += time.Duration(binary.BigEndian.Uint16(b[8:])) * time.Millisecond
		ps = append(ps, tlPacket{
			seq:  binary.BigEndian.Uint16(b),
			ts:   binary.BigEndian.Uint32(b[2:]),
			size: int(binary.BigEndian.Uint16(b[6:])),
			at:   at,
			ssrc: uint32(b[10]),
		})
	}
	return codec, ps
}

// FuzzTimeline feeds random sequence numbers, timestamps, payload sizes
// and arrival times; the timeline's invariants must hold (checkTimeline).
func FuzzTimeline(f *testing.F) {
	for _, c := range timelineCases {
		codec := 0
		if c.codec.Name == audio.CodecL16 {
			codec = 1
		}
		f.Add(encodeTimelineInput(codec, c.packets))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		codec, ps := decodeTimelineInput(b)
		// Bounded work per input: the fuzzer's instrumentation makes
		// decoding and resampling slow.
		total := 0
		for i, p := range ps {
			if total += p.size; total > 1<<14 || i == 400 {
				ps = ps[:i]
				break
			}
		}
		r := newTLRun(t, codec)
		r.feed(t, ps)
		checkTimeline(t, r, codec, ps)
	})
}

// BenchmarkTimeline measures the timeline over the cases' packets.
func BenchmarkTimeline(b *testing.B) {
	for _, c := range timelineCases[:1] {
		b.Run(c.name, func(b *testing.B) {
			r := newTLRun(b, c.codec)
			data := payload(160)
			p := &packet{data: data, arrival: r.now}
			b.ReportAllocs()
			for b.Loop() {
				if err := r.tl.process(p); err != nil {
					b.Fatal(err)
				}
				p.seq++
				p.ts += 160
				p.arrival = p.arrival.Add(ms20)
				r.records = r.records[:0]
			}
		})
	}
}

// aacPayload wraps one AU header (13-bit size, 3-bit index) around data,
// announcing an access unit of size bytes.
func aacPayload(size int, data []byte) []byte {
	return append([]byte{0, 16, byte(size >> 5), byte(size << 3)}, data...)
}

// TestTimelineTurnsARejectedAccessUnitIntoAGap drives a timeline with AAC
// packets as a camera sends them: 1024 ticks apart, one access unit
// fragmented over two packets sharing a timestamp, and one access unit
// libavcodec rejects. The rejected unit's 64 ms become a decode_error gap,
// the fragments none, and the audio goes on after both.
func TestTimelineTurnsARejectedAccessUnitIntoAGap(t *testing.T) {
	tone := make([]int16, 30*1024)
	for i := range tone {
		tone[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/16000))
	}
	enc, err := avenc.Encode(avenc.Config{Codec: "aac", SampleRate: 16000, Channels: 1, BitRate: 32000}, tone)
	if err != nil {
		t.Fatal(err)
	}
	asc, err := (&mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 16000, ChannelCount: 1}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	codec := sdk.Codec{Name: audio.CodecAAC, ClockRate: 16000, SampleRate: 16000, Channels: 1,
		AAC: audio.AACConfig{Config: string(asc), SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}}

	r := newTLRun(t, codec)
	const rejected, fragmented = 10, 5
	seq := uint16(100)
	send := func(ts uint32, data []byte, marker bool) {
		r.now = r.now.Add(64 * time.Millisecond)
		if err := r.tl.process(&packet{data: data, ts: ts, seq: seq, marker: marker, arrival: r.now}); err != nil {
			t.Fatal(err)
		}
		seq++
	}
	for i, au := range enc.Packets[:20] {
		ts := uint32(5000 + i*1024)
		switch i {
		case rejected:
			send(ts, aacPayload(1, []byte{0}), true)
		case fragmented:
			half := len(au) / 2
			send(ts, aacPayload(len(au), au[:half]), false)
			send(ts, aacPayload(len(au), au[half:]), true)
		default:
			send(ts, aacPayload(len(au), au), true)
		}
	}
	r.tl.flush()

	samples, gaps := r.tally()
	var gapRecords []schema.Record
	for _, rec := range r.records {
		if rec.Kind == schema.KindGap {
			gapRecords = append(gapRecords, rec)
		}
	}
	if len(gapRecords) != 1 || gaps[schema.ReasonDecodeError] != 64 {
		t.Fatalf("gaps %+v, want one decode_error gap of 64 ms", gapRecords)
	}
	if want := int64(19 * 1024); samples != want {
		t.Errorf("%d samples of audio, want %d (19 access units)", samples, want)
	}
	if d, p := r.c.decodeErrors.Load(), r.c.packets.Load(); d != 1 || p != 21 {
		t.Errorf("%d decode errors in %d packets, want 1 in 21", d, p)
	}
}

// TestTimelineLabelsEachRecordWithItsClock: audio arrives 300 ms after it
// was captured, and sender reports start in the middle of a chunk. A
// record's capture time and its clock come from its first sample: records
// begun before the first report are on the arrival clock, 300 ms late;
// every record labelled ntp carries the exact sender time of its offset.
func TestTimelineLabelsEachRecordWithItsClock(t *testing.T) {
	const lag = 300 * time.Millisecond
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var records []schema.Record
	var c counters
	tl := newTimeline(timelineConfig{
		stream: "cam", sampleRate: 16000, chunk: 100 * time.Millisecond,
		now:  func() time.Time { return t0 },
		emit: func(rec schema.Record) { records = append(records, rec) },
	}, &c)
	if err := tl.begin(pcma8k, 1); err != nil {
		t.Fatal(err)
	}
	defer tl.closeDecoder()
	for i := range 30 {
		sent := t0.Add(time.Duration(i) * ms20)
		p := &packet{data: payload(160), ts: uint32(i * 160), seq: uint16(i), marker: true, arrival: sent.Add(lag)}
		if i >= 7 { // the first sender report arrives with packet 7, inside the second chunk
			p.ntp = sent
		}
		if err := tl.process(p); err != nil {
			t.Fatal(err)
		}
	}
	tl.flush()
	clocks := map[string]int{}
	for _, r := range records {
		if r.Kind != schema.KindAudio {
			continue
		}
		clocks[r.Clock]++
		want := t0.Add(time.Duration(r.Offset) * time.Second / 16000)
		if r.Clock == schema.ClockArrival {
			want = want.Add(lag)
		}
		if d := r.CaptureTime.Sub(want); d < -time.Microsecond || d > time.Microsecond {
			t.Errorf("record seq %d at offset %d on the %s clock: capture time %s off by %s", r.Seq, r.Offset, r.Clock, r.CaptureTime, d)
		}
	}
	if clocks[schema.ClockArrival] != 2 || clocks[schema.ClockNTP] != 4 {
		t.Errorf("audio records by clock %v, want 2 arrival and 4 ntp", clocks)
	}
}
