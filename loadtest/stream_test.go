package loadtest

import (
	"testing"
	"time"
)

func TestStreamPacketLoopsClipAndKeepsCountingTimestamps(t *testing.T) {
	for _, tc := range codecCases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewServer(ServerConfig{Streams: []StreamSpec{tc.spec}})
			if err != nil {
				t.Fatal(err)
			}
			v := s.streams[0].newVariant(variantNormal, s.cfg.PacketDuration)
			n := int64(len(v.clip.payloads))
			if want := int64(len(s.Clip()) / 320); n != want {
				t.Fatalf("%d rounds per loop, want %d (the reference clip)", n, want)
			}
			sent := 0
			for r := range n {
				payload, ts, lead := v.clipPacket(r)
				if payload == nil {
					continue
				}
				sent++
				if lead < 0 || lead >= 20*time.Millisecond {
					t.Fatalf("round %d: audio starts %v after the round", r, lead)
				}
				if tc.payloadSize != 0 && len(payload) != tc.payloadSize {
					t.Errorf("round %d: %d-byte payload, want %d", r, len(payload), tc.payloadSize)
				}
				if tc.payloadSize != 0 && ts != uint32(r)*tc.tsStep {
					t.Errorf("round %d: timestamp %d after round 0's, want %d", r, ts, uint32(r)*tc.tsStep)
				}
			}
			if got, want := v.clip.loopTicks, uint32(sent)*tc.tsStep; got != want {
				t.Errorf("a loop of %d packets lasts %d ticks, want %d", sent, got, want)
			}
			for _, r := range []int64{n - 1, n, n + 1, 1<<33 + 7} {
				first, firstTS, _ := v.clipPacket(r % n)
				p, ts, _ := v.clipPacket(r)
				if want := firstTS + uint32(r/n)*v.clip.loopTicks; ts != want {
					t.Errorf("round %d: timestamp %d, want %d", r, ts, want)
				}
				if (p == nil) != (first == nil) || p != nil && &p[0] != &first[0] {
					t.Errorf("round %d: payload is not loop round %d's", r, r%n)
				}
			}
			if d := time.Duration(n) * 20 * time.Millisecond; d < 4*time.Second || d > 5*time.Second {
				t.Errorf("loop lasts %v, want the 4.6 s clip", d)
			}
		})
	}
}

func TestVariantCountsSequenceNumbersPerPacket(t *testing.T) {
	s, err := NewServer(ServerConfig{Streams: codecSpecs()[:1]})
	if err != nil {
		t.Fatal(err)
	}
	v := s.streams[0].newVariant(variantNormal, s.cfg.PacketDuration)
	seq0 := v.nextAudio(nil, 0, 0).SequenceNumber
	for i := range 3 {
		if got, want := v.nextAudio(nil, 0, 1000).SequenceNumber, seq0+1000+uint16(i)+1; got != want {
			t.Fatalf("packet %d: sequence number %d, want %d", i+1, got, want)
		}
	}
}
