package loadtest

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/pion/rtcp"

	"github.com/earshot/earshot/audio"
)

// Timing of the fault tests' servers: 20 ms packets (50 per second) and a
// sender report every 100 ms.
const (
	testPacket = 20 * time.Millisecond
	testSR     = 100 * time.Millisecond
)

// faultEnv is what a fault case runs against: a server of its own, serving
// "cam" (the case's spec, the one faults act on) and "control" (PCMA, never
// faulted).
type faultEnv struct {
	s    *Server
	opts probeOptions // how to reach the server
	spec StreamSpec
}

// faultCases is one case per fault kind (TestFaultCasesCoverEveryKind
// checks it): each injects its fault into a playing stream, checks that a
// plain client observes what the fault promises, clears it, and checks
// that the stream recovers.
var faultCases = []struct {
	name string // a sentence, used as the subtest name
	kind FaultKind
	spec StreamSpec // its Name is set to "cam"
	udp  bool       // serve UDP too
	tls  bool       // serve RTSPS
	run  func(t *testing.T, e *faultEnv)
}{
	{
		name: "audio_stop_video stops audio RTP while video RTP continues",
		kind: FaultAudioStopVideo,
		spec: StreamSpec{Codec: audio.CodecPCMA, Video: true},
		run: func(t *testing.T, e *faultEnv) {
			p := e.probe(t)
			p.await(t, "audio and video", func(c probeCounts) bool { return c.audio >= 3 && c.video >= 2 })
			clear := e.inject(t, Fault{Kind: FaultAudioStopVideo})
			// Audio sent before the fault shares the session's queue with
			// the video sent after it: it has arrived once video did.
			_, c2 := checkAudioStops(t, p, probeCounts{video: 3}, probeCounts{video: 15})
			clear()
			p.awaitAudio(t, c2, 10)
		},
	},
	{
		name: "audio_stop_rtcp stops audio RTP while sender reports continue over UDP",
		kind: FaultAudioStopRTCP,
		spec: StreamSpec{Codec: audio.CodecPCMU},
		udp:  true,
		run: func(t *testing.T, e *faultEnv) {
			e.opts.transport = gortsplib.TransportUDP
			p := e.probe(t)
			p.await(t, "audio and sender reports", func(c probeCounts) bool { return c.audio >= 3 && c.srs >= 1 })
			clear := e.inject(t, Fault{Kind: FaultAudioStopRTCP})
			c1, c2 := checkAudioStops(t, p, probeCounts{srs: 2}, probeCounts{srs: 6})
			checkReportsAdvance(t, p.srsSince(c1.srs)[:6], 8000)
			clear()
			p.awaitAudio(t, c2, 10)
		},
	},
	{
		name: "silent stops RTP and RTCP on every track while keepalives are answered",
		kind: FaultSilent,
		spec: StreamSpec{Codec: audio.CodecPCMA, Video: true},
		run: func(t *testing.T, e *faultEnv) {
			p := e.probe(t)
			raw := dialRaw(t, e.s.URL("cam"), nil)
			raw.play(t)
			control := startProbe(t, e.s.URL("control"), e.opts)
			p.await(t, "audio, video and reports", func(c probeCounts) bool { return c.audio >= 3 && c.video >= 2 && c.srs >= 1 })
			clear := e.inject(t, Fault{Kind: FaultSilent})
			control.awaitAudio(t, control.counts(), 10)
			c1 := p.counts()
			control.awaitAudio(t, control.counts(), 30)
			if err := raw.send(base.Options, nil, nil); err != nil {
				t.Fatal(err)
			}
			if res, err := raw.awaitResponse(waitBound); err != nil || res.StatusCode != base.StatusOK {
				t.Fatalf("keepalive during the fault: %v %v, want 200", res, err)
			}
			if c2 := p.counts(); c2 != c1 {
				t.Fatalf("received %+v then %+v during 600 ms of the fault, want nothing more", c1, c2)
			}
			clear()
			p.await(t, "audio, video and reports again", func(c probeCounts) bool {
				return c.audio >= c1.audio+3 && c.video >= c1.video+2 && c.srs >= c1.srs+1
			})
		},
	},
	{
		name: "timestamps_frozen keeps packets coming with a timestamp that stops advancing",
		kind: FaultTimestampsFrozen,
		spec: StreamSpec{Codec: audio.CodecPCMA},
		run: func(t *testing.T, e *faultEnv) {
			p := e.probe(t)
			p.awaitAudio(t, probeCounts{}, 3)
			c0 := p.counts()
			clear := e.inject(t, Fault{Kind: FaultTimestampsFrozen})
			// Packets sent before the fault may still be on their way: the
			// freeze begins where two packets first share a timestamp.
			var frozen int
			p.await(t, "15 packets with one timestamp", func(probeCounts) bool {
				pkts := p.audioSince(c0.audio - 1)
				frozen = -1
				for i := 1; frozen < 0 && i < len(pkts); i++ {
					if pkts[i].pkt.Timestamp == pkts[i-1].pkt.Timestamp {
						frozen = i - 1
					}
				}
				return frozen >= 0 && len(pkts) >= frozen+15
			})
			pkts := p.audioSince(c0.audio - 1 + frozen)
			checkConsecutive(t, pkts)
			for i, a := range pkts {
				if a.pkt.Timestamp != pkts[0].pkt.Timestamp {
					t.Fatalf("packet %d of the fault: timestamp %d, want %d (frozen)", i, a.pkt.Timestamp, pkts[0].pkt.Timestamp)
				}
			}
			clear()
			// After the fault, timestamps are back to real time: one jump,
			// then steps of 160.
			ts := pkts[0].pkt.Timestamp
			from := c0.audio - 1 + frozen
			var thawed int
			p.await(t, "10 packets after the fault", func(probeCounts) bool {
				after := p.audioSince(from)
				thawed = slices.IndexFunc(after, func(a arrival) bool { return a.pkt.Timestamp != ts })
				return thawed >= 0 && len(after) >= thawed+10
			})
			e.checkSteps(t, p.audioSince(from + thawed)[:10], 160)
		},
	},
	{
		name: "tcp_reset resets the readers' connections and new ones while it lasts",
		kind: FaultTCPReset,
		spec: StreamSpec{Codec: audio.CodecPCMA},
		run: func(t *testing.T, e *faultEnv) {
			raw := dialRaw(t, e.s.URL("cam"), nil)
			raw.play(t)
			if _, err := raw.nextRTP(); err != nil {
				t.Fatal(err)
			}
			clear := e.inject(t, Fault{Kind: FaultTCPReset})
			var err error
			for err == nil {
				_, err = raw.nextRTP()
			}
			if !isConnReset(err) {
				t.Fatalf("reading after the fault: %v, want a connection reset", err)
			}
			again := dialRaw(t, e.s.URL("cam"), nil)
			if _, err := again.do(base.Describe, nil, nil); !isConnReset(err) {
				t.Fatalf("DESCRIBE during the fault: %v, want a connection reset", err)
			}
			clear()
			e.probe(t).awaitAudio(t, probeCounts{}, 5)
		},
	},
	{
		name: "server_restart closes everything and listens again on the same address",
		kind: FaultServerRestart,
		spec: StreamSpec{Codec: audio.CodecPCMA},
		run: func(t *testing.T, e *faultEnv) {
			addr := e.s.Addr()
			clear := e.injectEndingSession(t, Fault{Kind: FaultServerRestart})
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				t.Fatalf("%s accepts connections during the restart", addr)
			}
			clear()
			if e.s.Addr() != addr {
				t.Fatalf("listening on %s after the restart, want %s", e.s.Addr(), addr)
			}
			e.probe(t).awaitAudio(t, probeCounts{}, 5)
			checkLog(t, e.s, FaultServerRestart, "")
		},
	},
	{
		name: "unauthorized ends the sessions and answers DESCRIBE with 401",
		kind: FaultUnauthorized,
		spec: StreamSpec{Codec: audio.CodecPCMA},
		run: func(t *testing.T, e *faultEnv) {
			checkRefused(t, e, Fault{Kind: FaultUnauthorized}, base.StatusUnauthorized)
		},
	},
	{
		name: "not_found ends the sessions and answers DESCRIBE with 404",
		kind: FaultNotFound,
		spec: StreamSpec{Codec: audio.CodecPCMA},
		run: func(t *testing.T, e *faultEnv) {
			checkRefused(t, e, Fault{Kind: FaultNotFound}, base.StatusNotFound)
		},
	},
	{
		name: "no_audio ends the sessions and serves an SDP with only a video track",
		kind: FaultNoAudio,
		spec: StreamSpec{Codec: audio.CodecPCMA},
		run: func(t *testing.T, e *faultEnv) {
			checkSDPFault(t, e, Fault{Kind: FaultNoAudio}, func(p *probe) {
				if got := mediaTypes(p.desc); !slices.Equal(got, []description.MediaType{description.MediaTypeVideo}) {
					t.Fatalf("SDP tracks %v during the fault, want only video", got)
				}
				p.await(t, "video", func(c probeCounts) bool { return c.video >= 3 })
			})
		},
	},
	{
		name: "unsupported_codec ends the sessions and serves AC-3 as the only audio track",
		kind: FaultUnsupportedCodec,
		spec: StreamSpec{Codec: audio.CodecPCMA},
		run: func(t *testing.T, e *faultEnv) {
			checkSDPFault(t, e, Fault{Kind: FaultUnsupportedCodec}, func(p *probe) {
				if f := audioFormat(t, p.desc); f.Codec() != "AC-3" {
					t.Fatalf("audio codec %q during the fault, want AC-3", f.Codec())
				}
				p.awaitAudio(t, probeCounts{}, 3)
			})
		},
	},
	{
		name: "garbage writes bytes between valid interleaved frames",
		kind: FaultGarbage,
		spec: StreamSpec{Codec: audio.CodecPCMA},
		run: func(t *testing.T, e *faultEnv) {
			p := e.probe(t) // a reader that skips garbage keeps receiving
			raw := dialRaw(t, e.s.URL("cam"), nil)
			raw.play(t)
			checkGarbage(t, raw, 10, false)
			clear := e.inject(t, Fault{Kind: FaultGarbage})
			for {
				pkt, err := raw.nextRTP()
				if err != nil {
					t.Fatal(err)
				}
				if pkt.garbage > 0 {
					break
				}
			}
			checkGarbage(t, raw, 20, true)
			p.awaitAudio(t, p.counts(), 10)
			clear()
			for { // skip what was sent before the fault ended
				pkt, err := raw.nextRTP()
				if err != nil {
					t.Fatal(err)
				}
				if pkt.garbage == 0 {
					break
				}
			}
			checkGarbage(t, raw, 10, false)
		},
	},
	{
		name: "udp_loss drops a fraction of the packets, skipping their sequence numbers",
		kind: FaultUDPLoss,
		spec: StreamSpec{Codec: audio.CodecPCMA},
		run: func(t *testing.T, e *faultEnv) {
			p, pkts, clear := e.playDuring(t, Fault{Kind: FaultUDPLoss, Loss: 0.5}, 40)
			span := int(pkts[len(pkts)-1].pkt.SequenceNumber-pkts[0].pkt.SequenceNumber) + 1
			if lost := 1 - float64(len(pkts))/float64(span); lost < 0.25 || lost > 0.75 {
				t.Fatalf("%d packets of %d sequence numbers arrived: %.0f%% lost, want about 50%%", len(pkts), span, 100*lost)
			}
			e.checkTimestamps(t, pkts, 160, 0)
			clear()
			checkFlowsAgain(t, p)
		},
	},
	{
		name: "udp_reorder swaps adjacent packets",
		kind: FaultUDPReorder,
		spec: StreamSpec{Codec: audio.CodecPCMU},
		run: func(t *testing.T, e *faultEnv) {
			p, pkts, clear := e.playDuring(t, Fault{Kind: FaultUDPReorder, Reorder: 0.3}, 60)
			var seqs []int
			swaps := 0
			for i, a := range pkts {
				seqs = append(seqs, int(a.pkt.SequenceNumber-pkts[0].pkt.SequenceNumber+100))
				if i > 0 && int16(a.pkt.SequenceNumber-pkts[i-1].pkt.SequenceNumber) < 0 {
					swaps++
				}
			}
			slices.Sort(seqs)
			if len(slices.Compact(slices.Clone(seqs))) != len(seqs) || seqs[len(seqs)-1]-seqs[0]+1 > len(seqs)+2 {
				t.Fatalf("sequence numbers %v: want each once, none missing", seqs)
			}
			if swaps < 3 {
				t.Fatalf("%d packets of 60 arrived before their predecessor, want about 14", swaps)
			}
			clear()
			checkFlowsAgain(t, p)
		},
	},
	{
		name: "udp_jitter delays packets by a bounded random time, in order",
		kind: FaultUDPJitter,
		spec: StreamSpec{Codec: audio.CodecPCMA, Video: true}, // video is the clock
		run: func(t *testing.T, e *faultEnv) {
			const jitter = 200 * time.Millisecond // 10 rounds
			p := e.probe(t)
			c0 := p.await(t, "audio and video", func(c probeCounts) bool { return c.audio >= 3 && c.video >= 2 })
			p.awaitAudio(t, c0, 20)
			before := median(p.videoLag(c0.audio, 160)[:20])
			clear := e.inject(t, Fault{Kind: FaultUDPJitter, Jitter: jitter})
			c1 := p.awaitAudio(t, p.counts(), 3)
			p.awaitAudio(t, c1, 50)
			checkConsecutive(t, p.audioSince(c1.audio)[:50])
			held := p.videoLag(c1.audio, 160)[:50]
			for i := range held {
				held[i] -= before
			}
			// Delays are uniform in 0-10 rounds, and each packet waits at
			// least as long as the one before minus a round: about 8 rounds
			// on average.
			if m := mean(held); m < 4 || m > 11 || slices.Max(held) > 13 {
				t.Fatalf("audio held back %v rounds (mean %.1f) during the fault, want about 8, at most 10", held, m)
			}
			clear()
			c2 := p.awaitAudio(t, p.counts(), 20) // the held ones drain
			p.awaitAudio(t, c2, 10)
			checkConsecutive(t, p.audioSince(c1.audio))
			if after := median(p.videoLag(c2.audio, 160)[:10]); after != before {
				t.Fatalf("audio lags video by %d rounds after the fault, want %d as before", after, before)
			}
		},
	},
	{
		name: "timestamp_jump moves the RTP timestamp forward once",
		kind: FaultTimestampJump,
		spec: StreamSpec{Codec: audio.CodecPCMA},
		run: func(t *testing.T, e *faultEnv) {
			p := e.probe(t)
			c0 := p.awaitAudio(t, probeCounts{}, 3)
			e.inject(t, Fault{Kind: FaultTimestampJump, Jump: 2 * time.Second})
			p.awaitAudio(t, p.counts(), 15)
			pkts := p.audioSince(c0.audio - 1)
			checkConsecutive(t, pkts)
			if jumps := e.checkTimestamps(t, pkts, 160, 2*8000); jumps != 1 {
				t.Fatalf("%d timestamp jumps, want 1", jumps)
			}
			checkLog(t, e.s, FaultTimestampJump, "cam")
		},
	},
	{
		name: "ssrc_change continues with a new SSRC and sequence base over RTSPS",
		kind: FaultSSRCChange,
		spec: StreamSpec{Codec: audio.CodecPCMA},
		tls:  true,
		run: func(t *testing.T, e *faultEnv) {
			raw := dialRaw(t, e.s.URL("cam"), e.opts.tls)
			raw.play(t)
			prev, err := raw.nextRTP()
			if err != nil {
				t.Fatal(err)
			}
			e.inject(t, Fault{Kind: FaultSSRCChange})
			checkSSRCChange(t, raw, prev, e.s.SkippedRounds)
		},
	},
	{
		name: "sdp_change ends the sessions and serves another codec",
		kind: FaultSDPChange,
		spec: StreamSpec{Codec: audio.CodecOpus},
		run: func(t *testing.T, e *faultEnv) {
			checkSDPFault(t, e, Fault{Kind: FaultSDPChange}, func(p *probe) {
				want := &format.G711{PayloadTyp: 0, MULaw: true, SampleRate: 8000, ChannelCount: 1}
				if f := audioFormat(t, p.desc); !formatsEqual(f, want) {
					t.Fatalf("audio format %#v during the fault, want %#v", f, want)
				}
				p.awaitAudio(t, probeCounts{}, 5)
				for _, a := range p.audioSince(0)[:5] {
					if a.pkt.PayloadType != 0 || len(a.pkt.Payload) != 160 {
						t.Fatalf("packet of type %d with %d bytes, want PCMU with 160", a.pkt.PayloadType, len(a.pkt.Payload))
					}
				}
			})
		},
	},
	{
		name: "slow_describe answers OPTIONS but holds DESCRIBE until it ends",
		kind: FaultSlowDescribe,
		spec: StreamSpec{Codec: audio.CodecPCMA},
		run: func(t *testing.T, e *faultEnv) {
			clear := e.injectEndingSession(t, Fault{Kind: FaultSlowDescribe})
			raw := dialRaw(t, e.s.URL("cam"), nil)
			if _, err := raw.do(base.Options, nil, nil); err != nil {
				t.Fatal(err)
			}
			if err := raw.send(base.Describe, nil, nil); err != nil {
				t.Fatal(err)
			}
			var timeout net.Error
			if res, err := raw.awaitResponse(500 * time.Millisecond); !errors.As(err, &timeout) || !timeout.Timeout() {
				t.Fatalf("DESCRIBE during the fault: %v %v, want no answer within 500 ms", res, err)
			}
			clear()
			if res, err := raw.awaitResponse(waitBound); err != nil || res.StatusCode != base.StatusOK {
				t.Fatalf("held DESCRIBE after the fault: %v %v, want 200", res, err)
			}
		},
	},
	{
		name: "oversized_payload sends payloads longer than their slot, timestamps unchanged",
		kind: FaultOversizedPayload,
		spec: StreamSpec{Codec: audio.CodecPCMA},
		run: func(t *testing.T, e *faultEnv) {
			const size = 1400
			p, pkts, clear := e.playDuring(t, Fault{Kind: FaultOversizedPayload, Size: size}, 20)
			e.checkSteps(t, pkts, 160)
			for i, a := range pkts {
				b := a.pkt.Payload
				if len(b) != size || !bytes.Equal(b[160:320], b[:160]) {
					t.Fatalf("packet %d: %d bytes, want %d: the 160-byte payload repeated", i, len(b), size)
				}
			}
			clear()
			c := p.awaitAudio(t, p.counts(), 3) // those may predate the clear
			p.awaitAudio(t, c, 10)
			for _, a := range p.audioSince(c.audio)[:10] {
				if len(a.pkt.Payload) != 160 {
					t.Fatalf("a %d-byte payload after the fault, want 160", len(a.pkt.Payload))
				}
			}
		},
	},
	{
		name: "fast_clock sends Speed packets per round and keeps its lead",
		kind: FaultFastClock,
		spec: StreamSpec{Codec: audio.CodecPCMA, Video: true}, // video is the clock
		run: func(t *testing.T, e *faultEnv) {
			const speed, n = 4, 81
			p := e.probe(t)
			c0 := p.await(t, "audio and video", func(c probeCounts) bool { return c.audio >= 3 && c.video >= 2 })
			clear := e.inject(t, Fault{Kind: FaultFastClock, Speed: speed})
			c1 := p.awaitAudio(t, p.counts(), 3*speed) // those may predate the fault
			p.awaitAudio(t, c1, n)
			e.checkSteps(t, p.audioSince(c0.audio)[:c1.audio-c0.audio+n], 160)
			// The audio clock gains speed-1 rounds on video every round.
			lags := p.videoLag(c1.audio, 160)[:n]
			want := (n - 1) * (speed - 1) / speed
			if gained := lags[0] - lags[n-1]; gained < want-3 || gained > want+3 {
				t.Fatalf("audio gained %d rounds on video over %d packets, want %d", gained, n, want)
			}
			clear()
			c2 := p.awaitAudio(t, p.counts(), 3*speed)
			p.awaitAudio(t, c2, 20)
			e.checkSteps(t, p.audioSince(c1.audio), 160)
			after := p.videoLag(c2.audio, 160)[:20]
			if d := after[0] - after[19]; d < -2 || d > 2 {
				t.Fatalf("audio gained %d rounds on video over 20 packets after the fault, want none", d)
			}
		},
	},
	{
		// What earshot must not do: gortsplib's own client follows the
		// redirect with the credentials, and the other host gets them.
		name: "redirect_other_host sends DESCRIBE to another host, which records the credentials a naive client sends",
		kind: FaultRedirectOtherHost,
		spec: StreamSpec{Codec: audio.CodecPCMA, User: "admin", Password: "hunter2"},
		run: func(t *testing.T, e *faultEnv) {
			clear := e.inject(t, Fault{Kind: FaultRedirectOtherHost})
			_, err := dialProbe(e.s.URLWithCredentials("cam"), e.opts)
			var bad liberrors.ErrClientBadStatusCode
			if !errors.As(err, &bad) || bad.Code != base.StatusNotFound {
				t.Fatalf("playing during the fault: %v, want 404 from the other host", err)
			}
			d := e.s.Decoy()
			if d == nil {
				t.Fatal("no other host started")
			}
			accepts, reqs := d.Seen()
			if accepts != 1 || len(reqs) == 0 || !strings.HasPrefix(d.URL(""), "rtsp://127.0.0.2:") {
				t.Fatalf("other host %s saw %d connections, requests %+v", d.URL(""), accepts, reqs)
			}
			if last := reqs[len(reqs)-1]; last.Method != base.Describe || last.Authorization == "" {
				t.Fatalf("other host's last request %+v, want a DESCRIBE with the credentials", last)
			}
			clear()
			p, err := dialProbe(e.s.URLWithCredentials("cam"), e.opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.close)
			p.awaitAudio(t, probeCounts{}, 5)
		},
	},
	{
		name: "redirect_loop answers DESCRIBE with a redirect to itself, one connection each",
		kind: FaultRedirectLoop,
		spec: StreamSpec{Codec: audio.CodecPCMA},
		run: func(t *testing.T, e *faultEnv) {
			clear := e.injectEndingSession(t, Fault{Kind: FaultRedirectLoop})
			before := e.s.Accepts()
			raw := dialRaw(t, e.s.URL("cam"), nil)
			u, err := base.ParseURL(e.s.URL("cam"))
			if err != nil {
				t.Fatal(err)
			}
			if err := raw.send(base.Describe, u, nil); err != nil {
				t.Fatal(err)
			}
			res, err := raw.awaitResponse(waitBound)
			if err != nil || res.StatusCode != base.StatusFound || len(res.Header["Location"]) != 1 || res.Header["Location"][0] != e.s.URL("cam") {
				t.Fatalf("DESCRIBE during the fault: %v %v, want 302 to %s", res, err, e.s.URL("cam"))
			}
			if got := e.s.Accepts() - before; got != 1 {
				t.Fatalf("Accepts grew by %d for one connection", got)
			}
			clear()
			e.probe(t).awaitAudio(t, probeCounts{}, 5)
		},
	},
}

func TestFaultCasesCoverEveryKind(t *testing.T) {
	covered := make(map[FaultKind]bool)
	for _, tc := range faultCases {
		covered[tc.kind] = true
	}
	for _, k := range FaultKinds() {
		if !covered[k] {
			t.Errorf("no case in faultCases for %s", k)
		}
	}
}

func TestFaults(t *testing.T) {
	for _, tc := range faultCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spec := tc.spec
			spec.Name = "cam"
			cfg := ServerConfig{
				Streams:            []StreamSpec{spec, {Name: "control", Codec: audio.CodecPCMA}},
				PacketDuration:     testPacket,
				SenderReportPeriod: testSR,
				UDP:                tc.udp,
				Logger:             slog.New(slog.DiscardHandler),
			}
			e := &faultEnv{spec: spec}
			e.opts.transport = gortsplib.TransportTCP
			if tc.tls {
				var roots = loopbackRoots(t, &cfg)
				e.opts.tls = roots
			}
			e.s = startServer(t, cfg)
			tc.run(t, e)
			// The control stream played on throughout.
			if got := e.s.PacketsSent("control"); got == 0 {
				t.Error("the control stream sent nothing")
			}
		})
	}
}

// inject injects f into "cam" (unless server-wide), failing the test on
// error; the test's cleanup clears it.
func (e *faultEnv) inject(t *testing.T, f Fault) func() {
	t.Helper()
	if info, _ := f.Kind.info(); !info.serverWide {
		f.Stream = "cam"
	}
	clear, err := e.s.Inject(f)
	if err != nil {
		t.Fatalf("Inject(%s): %v", f, err)
	}
	t.Cleanup(clear)
	return clear
}

// injectEndingSession injects f while a probe plays "cam", and checks that
// it ends the probe's session.
func (e *faultEnv) injectEndingSession(t *testing.T, f Fault) func() {
	t.Helper()
	p := e.probe(t)
	p.awaitAudio(t, probeCounts{}, 3)
	clear := e.inject(t, f)
	p.awaitStopped(t)
	return clear
}

// playDuring injects f while a probe plays "cam", and returns the probe and
// the n audio packets it receives after the fault began.
func (e *faultEnv) playDuring(t *testing.T, f Fault, n int) (*probe, []arrival, func()) {
	t.Helper()
	p := e.probe(t)
	p.awaitAudio(t, probeCounts{}, 3)
	clear := e.inject(t, f)
	c := p.awaitAudio(t, p.counts(), 3) // those may predate the fault
	p.awaitAudio(t, c, n)
	return p, p.audioSince(c.audio)[:n], clear
}

// checkFlowsAgain checks that p receives consecutive packets again.
func checkFlowsAgain(t *testing.T, p *probe) {
	t.Helper()
	c := p.awaitAudio(t, p.counts(), 3) // those may predate the clear
	p.awaitAudio(t, c, 20)
	checkConsecutive(t, p.audioSince(c.audio)[:20])
}

// probe starts a probe on "cam".
func (e *faultEnv) probe(t *testing.T) *probe {
	t.Helper()
	return startProbe(t, e.s.URL("cam"), e.opts)
}

// checkAudioStops checks that p receives no audio while the rest of what
// it receives (video, sender reports) grows by window, after it grew by
// settle (the time for what was sent before the fault to arrive). It
// returns the counts when the window opened and closed.
func checkAudioStops(t *testing.T, p *probe, settle, window probeCounts) (c1, c2 probeCounts) {
	t.Helper()
	c1 = p.await(t, fmt.Sprintf("%+v more after the fault began", settle), more(p.counts(), settle))
	c2 = p.await(t, fmt.Sprintf("%+v more during the fault", window), more(c1, window))
	if c2.audio != c1.audio {
		t.Fatalf("%d audio packets arrived with %+v more during the fault, want none", c2.audio-c1.audio, window)
	}
	return c1, c2
}

// more returns a condition: at least d more than from of everything.
func more(from, d probeCounts) func(probeCounts) bool {
	return func(c probeCounts) bool {
		return c.audio >= from.audio+d.audio && c.video >= from.video+d.video && c.srs >= from.srs+d.srs
	}
}

// checkRefused checks that f ends the playing session, that DESCRIBE then
// answers status, and that the stream plays again after clear.
func checkRefused(t *testing.T, e *faultEnv, f Fault, status base.StatusCode) {
	t.Helper()
	clear := e.injectEndingSession(t, f)
	_, err := dialProbe(e.s.URL("cam"), e.opts)
	var bad liberrors.ErrClientBadStatusCode
	if !errors.As(err, &bad) || bad.Code != status {
		t.Fatalf("playing during the fault: %v, want status %d", err, status)
	}
	clear()
	e.probe(t).awaitAudio(t, probeCounts{}, 5)
}

// checkSDPFault checks that f ends the playing sessions, runs during on a
// probe of what is served during the fault, and checks that clearing f
// ends that session and serves the spec's codec again.
func checkSDPFault(t *testing.T, e *faultEnv, f Fault, during func(*probe)) {
	t.Helper()
	clear := e.injectEndingSession(t, f)
	p := e.probe(t)
	during(p)
	clear()
	p.awaitStopped(t)
	after := e.probe(t)
	if got, want := audioFormat(t, after.desc), e.s.byName["cam"].clip.newFormat(); !formatsEqual(got, want) {
		t.Fatalf("audio format %#v after the fault, want %#v", got, want)
	}
	after.awaitAudio(t, probeCounts{}, 5)
}

// checkConsecutive checks that pkts have consecutive sequence numbers.
func checkConsecutive(t *testing.T, pkts []arrival) {
	t.Helper()
	for i := 1; i < len(pkts); i++ {
		if pkts[i].pkt.SequenceNumber != pkts[i-1].pkt.SequenceNumber+1 {
			t.Fatalf("packet %d: sequence number %d after %d", i, pkts[i].pkt.SequenceNumber, pkts[i-1].pkt.SequenceNumber)
		}
	}
}

// checkSteps checks that pkts are consecutive and that their timestamps
// advance by step; see checkTimestamps.
func (e *faultEnv) checkSteps(t *testing.T, pkts []arrival, step uint32) {
	t.Helper()
	checkConsecutive(t, pkts)
	e.checkTimestamps(t, pkts, step, 0)
}

// checkTimestamps checks that timestamps advance by step per sequence
// number (so that a gap in sequence numbers is a gap in time), or by jump
// more, and returns how many times they jumped. Rounds the pacer skipped
// on an overloaded host advance timestamps but not sequence numbers: if
// it skipped any, steps may be larger by whole rounds.
func (e *faultEnv) checkTimestamps(t *testing.T, pkts []arrival, step, jump uint32) int {
	t.Helper()
	skipped := e.s.SkippedRounds() > 0
	jumps := 0
	for i := 1; i < len(pkts); i++ {
		want := uint32(pkts[i].pkt.SequenceNumber-pkts[i-1].pkt.SequenceNumber) * step
		got := pkts[i].pkt.Timestamp - pkts[i-1].pkt.Timestamp
		if jump != 0 && got >= want+jump {
			jumps++
			got -= jump
		}
		if got != want && !(skipped && got > want && (got-want)%step == 0) {
			t.Fatalf("packet %d: timestamp advanced by %d, want %d (or %d more)", i, got, want, jump)
		}
	}
	return jumps
}

// checkReportsAdvance checks that consecutive sender reports map advancing
// NTP times to RTP times advancing at clockRate.
func checkReportsAdvance(t *testing.T, srs []rtcp.SenderReport, clockRate int) {
	t.Helper()
	for i := 1; i < len(srs); i++ {
		dntp := rfc3550NTP(srs[i].NTPTime).Sub(rfc3550NTP(srs[i-1].NTPTime))
		drtp := srs[i].RTPTime - srs[i-1].RTPTime
		// The 2^-32 s fraction rounds each NTP time by under a nanosecond.
		if diff := time.Duration(drtp)*time.Second/time.Duration(clockRate) - dntp; dntp <= 0 || diff < -time.Nanosecond || diff > time.Nanosecond {
			t.Fatalf("sender report %d: NTP +%v, RTP +%d ticks, want both advancing at %d Hz", i, dntp, drtp, clockRate)
		}
	}
}

// rfc3550NTP decodes a sender report's NTP time as the server encodes it
// by default (ServerConfig.GortsplibNTP false).
func rfc3550NTP(v uint64) time.Time {
	return time.Unix(int64(v>>32)-2208988800, int64((v&0xffffffff)*uint64(time.Second)>>32))
}

func median(v []int) int {
	s := slices.Sorted(slices.Values(v))
	return s[len(s)/2]
}

func mean(v []int) float64 {
	sum := 0
	for _, x := range v {
		sum += x
	}
	return float64(sum) / float64(len(v))
}

// checkGarbage reads n RTP packets from raw, consecutive, and checks that
// garbage came before every one of them (or none did).
func checkGarbage(t *testing.T, raw *rawReader, n int, want bool) {
	t.Helper()
	var prev *rawRTP
	for i := range n {
		p, err := raw.nextRTP()
		if err != nil {
			t.Fatal(err)
		}
		if got := p.garbage > 0; got != want {
			t.Fatalf("packet %d: %d garbage bytes before it, want garbage: %v", i, p.garbage, want)
		}
		if prev != nil && p.pkt.SequenceNumber != prev.pkt.SequenceNumber+1 {
			t.Fatalf("packet %d: sequence number %d after %d", i, p.pkt.SequenceNumber, prev.pkt.SequenceNumber)
		}
		prev = &p
	}
}

// checkSSRCChange reads from raw, whose last RTP packet was prev, until
// the SSRC changes, and checks the change: a new sequence base, timestamps
// continuing, and sender reports following the new SSRC.
func checkSSRCChange(t *testing.T, raw *rawReader, prev rawRTP, skipped func() uint64) {
	t.Helper()
	var next rawRTP
	for {
		p, err := raw.nextRTP()
		if err != nil {
			t.Fatal(err)
		}
		if p.pkt.SSRC != prev.pkt.SSRC {
			next = p
			break
		}
		if p.pkt.SequenceNumber != prev.pkt.SequenceNumber+1 {
			t.Fatalf("sequence number %d after %d with the same SSRC", p.pkt.SequenceNumber, prev.pkt.SequenceNumber)
		}
		prev = p
	}
	if d := next.pkt.SequenceNumber - prev.pkt.SequenceNumber; d < 1000 || d > 1<<16-1000 {
		t.Errorf("sequence number %d after %d across the SSRC change, want a new base", next.pkt.SequenceNumber, prev.pkt.SequenceNumber)
	}
	if d := next.pkt.Timestamp - prev.pkt.Timestamp; d%160 != 0 || d > 160 && skipped() == 0 {
		t.Errorf("timestamp advanced by %d across the SSRC change, want 160", d)
	}
	// The next sender report carries the new SSRC.
	for {
		f, err := raw.next()
		if err != nil {
			t.Fatal(err)
		}
		if f.channel != 1 {
			continue
		}
		pkts, err := rtcp.Unmarshal(f.payload)
		if err != nil {
			t.Fatal(err)
		}
		if sr, ok := pkts[0].(*rtcp.SenderReport); ok {
			if sr.SSRC != next.pkt.SSRC {
				t.Fatalf("sender report with SSRC %08x, want %08x", sr.SSRC, next.pkt.SSRC)
			}
			return
		}
	}
}

// checkLog checks that the server's fault log has one event of kind on
// stream, ended and without error.
func checkLog(t *testing.T, s *Server, kind FaultKind, stream string) {
	t.Helper()
	log := s.FaultLog()
	if len(log) != 1 || log[0].Kind != kind || log[0].Stream != stream || log[0].Ended.IsZero() ||
		log[0].Ended.Before(log[0].Began) || log[0].Error != "" {
		t.Fatalf("fault log %+v, want one ended %s on %q", log, kind, stream)
	}
}

func mediaTypes(desc *description.Session) []description.MediaType {
	var out []description.MediaType
	for _, m := range desc.Medias {
		out = append(out, m.Type)
	}
	return out
}

// audioFormat returns the format of desc's only audio track.
func audioFormat(t *testing.T, desc *description.Session) format.Format {
	t.Helper()
	var fs []format.Format
	for _, m := range desc.Medias {
		if m.Type == description.MediaTypeAudio {
			fs = append(fs, m.Formats...)
		}
	}
	if len(fs) != 1 {
		t.Fatalf("SDP has %d audio formats, want 1", len(fs))
	}
	return fs[0]
}

func formatsEqual(a, b format.Format) bool {
	return a.Codec() == b.Codec() && a.PayloadType() == b.PayloadType() && a.RTPMap() == b.RTPMap()
}
