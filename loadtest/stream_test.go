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
			if want := int64(len(s.Clip()) / 320); n != want {
				t.Fatalf("%d rounds per loop, want %d (the reference clip)", n, want)
			}
			// packet fills one reused rtp.Packet: read it before the next call.
			at := func(r int64) (payload []byte, ts uint32, lead time.Duration) {
				p, lead := st.packet(r)
				return p.Payload, p.Timestamp, lead
			}
			_, ts0, _ := at(0)
			sent := 0
			for r := range n {
				payload, ts, lead := at(r)
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
				if tc.payloadSize != 0 && ts != ts0+uint32(r)*tc.tsStep {
					t.Errorf("round %d: timestamp %d, want %d", r, ts, ts0+uint32(r)*tc.tsStep)
				}
			}
			if got, want := st.clip.loopTicks, uint32(sent)*tc.tsStep; got != want {
				t.Errorf("a loop of %d packets lasts %d ticks, want %d", sent, got, want)
			}
			for _, r := range []int64{n - 1, n, n + 1, 1<<33 + 7} {
				first, firstTS, _ := at(r % n)
				p, ts, _ := at(r)
				if want := firstTS + uint32(r/n)*st.clip.loopTicks; ts != want {
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
