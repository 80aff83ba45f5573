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
			ts0 := v.timestamp(0, 0)
			seq0 := v.nextAudio(0, ts0, 0).SequenceNumber
			for i, r := range []int64{n - 1, n, n + 1, 1<<33 + 7} {
				p := v.nextAudio(r, v.timestamp(r, 0), 0)
				if want := ts0 + uint32(r)*tc.tsStep; p.Timestamp != want {
					t.Errorf("round %d: timestamp %d, want %d", r, p.Timestamp, want)
				}
				if want := seq0 + uint16(i) + 1; p.SequenceNumber != want {
					t.Errorf("round %d: sequence number %d, want %d (one per packet)", r, p.SequenceNumber, want)
				}
				if want := v.clip.payloads[r%n]; &p.Payload[0] != &want[0] {
					t.Errorf("round %d: payload is not loop packet %d", r, r%n)
				}
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
