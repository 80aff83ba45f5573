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
			if want := int64(len(s.Clip()) / 320); tc.spec.Codec != "pcma" && tc.spec.Codec != "pcmu" && n != want {
				t.Fatalf("%d packets per loop, want %d (the reference clip)", n, want)
			}
			for _, r := range []int64{0, n - 1, n, n + 1, 1<<33 + 7} {
				payload, ts := v.clipPacket(r)
				if want := uint32(r) * tc.tsStep; ts != want {
					t.Errorf("round %d: timestamp %d after round 0's, want %d", r, ts, want)
				}
				if want := v.clip.payloads[r%n]; &payload[0] != &want[0] {
					t.Errorf("round %d: payload is not loop packet %d", r, r%n)
				}
				p := v.nextAudio(payload, ts, 0)
				if tc.payloadSize != 0 && len(p.Payload) != tc.payloadSize {
					t.Errorf("round %d: %d-byte payload, want %d", r, len(p.Payload), tc.payloadSize)
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
