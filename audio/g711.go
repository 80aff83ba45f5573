package audio

// G.711 expansion tables (ITU-T G.711), indexed by the coded byte. They are
// computed once at package initialisation so that decoding a sample is a
// single load, and they hold native int16 values: mediacommon's g711 package
// yields big-endian bytes, which would need swapping per sample.
var (
	alawTable  = expandTable(alawExpand)
	mulawTable = expandTable(mulawExpand)
)

func expandTable(expand func(b byte) int16) *[256]int16 {
	var t [256]int16
	for i := range t {
		t[i] = expand(byte(i))
	}
	return &t
}

// alawExpand follows the G.711 A-law decoder: even bits are inverted on the
// wire, the 3-bit segment selects the shift, and the result is the 13-bit
// linear value scaled to 16 bits.
func alawExpand(b byte) int16 {
	a := b ^ 0x55
	v := int16(a&0x0F)<<4 | 8 // mid-point of the quantisation interval
	if seg := (a & 0x70) >> 4; seg > 0 {
		v = (v + 0x100) << (seg - 1)
	}
	if a&0x80 == 0 {
		return -v
	}
	return v
}

// mulawExpand follows the G.711 µ-law decoder: all bits are inverted on the
// wire and the segment's bias of 0x84 (132) is removed after shifting.
func mulawExpand(b byte) int16 {
	u := ^b
	v := (int16(u&0x0F)<<3 + 0x84) << ((u & 0x70) >> 4)
	if u&0x80 != 0 {
		return 0x84 - v
	}
	return v - 0x84
}

// ExpandG711 decodes interleaved G.711 frames, µ-law if mulaw else A-law,
// into pcm as mono, averaging channels. len(payload) must be
// len(pcm)*channels.
func ExpandG711(pcm []int16, payload []byte, mulaw bool, channels int) {
	t := alawTable
	if mulaw {
		t = mulawTable
	}
	if channels == 1 {
		for i, b := range payload[:len(pcm)] {
			pcm[i] = t[b]
		}
		return
	}
	for i := range pcm {
		var sum int32
		for _, b := range payload[i*channels : (i+1)*channels] {
			sum += int32(t[b])
		}
		pcm[i] = int16(sum / int32(channels))
	}
}
