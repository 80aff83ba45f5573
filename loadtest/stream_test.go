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
			st := s.streams[0]
			n := int64(len(st.clip.payloads))
			if want := int64(len(s.Clip()) / 320); tc.spec.Codec != "pcma" && tc.spec.Codec != "pcmu" && n != want {
				t.Fatalf("%d packets per loop, want %d (the reference clip)", n, want)
			}
			ts0 := st.packet(0).Timestamp
			for _, r := range []int64{n - 1, n, n + 1, 1<<33 + 7} {
				p := st.packet(r)
				if want := ts0 + uint32(r)*tc.tsStep; p.Timestamp != want {
					t.Errorf("round %d: timestamp %d, want %d", r, p.Timestamp, want)
				}
				if want := st.clip.payloads[r%n]; &p.Payload[0] != &want[0] {
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
