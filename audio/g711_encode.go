package audio

import (
	"encoding/binary"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/g711"
)

// EncodeG711 compresses 16-bit linear samples to A-law (CodecPCMA) or µ-law
// (CodecPCMU) with mediacommon's encoder, an implementation independent of
// the expansion tables earshot decodes with. The synthetic cameras and the
// decoder tests use it.
func EncodeG711(codec string, samples []int16) ([]byte, error) {
	be := make([]byte, 2*len(samples))
	for i, v := range samples {
		binary.BigEndian.PutUint16(be[2*i:], uint16(v))
	}
	var enc []byte
	var err error
	switch codec {
	case CodecPCMU:
		enc, err = g711.Mulaw(be).Marshal()
	case CodecPCMA:
		enc, err = g711.Alaw(be).Marshal()
	default:
		return nil, fmt.Errorf("%s is not a G.711 codec", codec)
	}
	if err != nil {
		return nil, fmt.Errorf("%s encode: %w", codec, err)
	}
	return enc, nil
}
