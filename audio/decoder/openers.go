package decoder

import "github.com/earshot/earshot/audio"

// opener prepares a new Decoder for codec c: the libopus or libavcodec
// state, the depacketizer, the buffers and the rate it decodes at.
type opener func(d *Decoder, c audio.Codec) error

// openers returns the opener of every codec in the audio registry, keyed
// by codec name; TestEveryRegistryCodecHasADecoder holds the two together.
// Adding a codec to the registry adds its opener here. The table is built
// per call so that nothing can change it; New calls it once per decoder.
func openers() map[string]opener {
	m := map[string]opener{
		audio.CodecOpus:    (*Decoder).openOpus,
		audio.CodecPCMA:    (*Decoder).openG711,
		audio.CodecPCMU:    (*Decoder).openG711,
		audio.CodecL16:     (*Decoder).openL16,
		audio.CodecAAC:     (*Decoder).openAAC,
		audio.CodecAACLATM: (*Decoder).openAAC,
		audio.CodecG722:    (*Decoder).openADPCM,
		audio.CodecMPA:     (*Decoder).openFramed,
		audio.CodecAMR:     (*Decoder).openFramed,
		audio.CodecAMRWB:   (*Decoder).openFramed,
	}
	for _, aal2 := range []bool{false, true} {
		for _, kbps := range []int{16, 24, 32, 40} {
			m[audio.G726Codec(kbps, aal2)] = (*Decoder).openADPCM
		}
	}
	return m
}
