package decoder

/*
#cgo pkg-config: opus
#include <opus.h>

static int earshot_opus_reset(OpusDecoder *st) {
	return opus_decoder_ctl(st, OPUS_RESET_STATE);
}
*/
import "C"

import (
	"errors"
	"unsafe"
)

// opusDecoder is libopus's mono decoder. Its state (about 18 KiB) lives in
// Go memory, as gopkg.in/hraban/opus.v2 keeps it, but reset clears it in
// place with OPUS_RESET_STATE, which that binding does not expose: a
// stream's gaps cost no allocation.
type opusDecoder struct {
	mem []byte
}

// newOpusDecoder returns a decoder producing mono samples at rate Hz
// (8, 12, 16, 24 or 48 kHz).
func newOpusDecoder(rate int) (*opusDecoder, error) {
	d := &opusDecoder{mem: make([]byte, C.opus_decoder_get_size(1))}
	if rc := C.opus_decoder_init(d.state(), C.opus_int32(rate), 1); rc != C.OPUS_OK {
		return nil, opusError(rc)
	}
	return d, nil
}

func (d *opusDecoder) state() *C.OpusDecoder { return (*C.OpusDecoder)(unsafe.Pointer(&d.mem[0])) }

// decode decodes payload into pcm and returns the samples written: with
// fec, the frame before payload from its redundancy; with no payload, a
// concealment of len(pcm) samples. libopus writes at most len(pcm).
func (d *opusDecoder) decode(payload []byte, pcm []int16, fec bool) (int, error) {
	if len(pcm) == 0 {
		return 0, errors.New("opus: empty output buffer")
	}
	var data *C.uchar
	if len(payload) > 0 {
		data = (*C.uchar)(unsafe.Pointer(&payload[0]))
	}
	var flag C.int
	if fec {
		flag = 1
	}
	n := C.opus_decode(d.state(), data, C.opus_int32(len(payload)), (*C.opus_int16)(unsafe.Pointer(&pcm[0])), C.int(len(pcm)), flag)
	if n < 0 {
		return 0, opusError(n)
	}
	return int(n), nil
}

// reset forgets the history, as a new decoder would, without allocating.
func (d *opusDecoder) reset() {
	C.earshot_opus_reset(d.state())
}

// opusError is libopus's message for rc, as "opus: corrupted stream".
func opusError(rc C.int) error {
	return errors.New("opus: " + C.GoString(C.opus_strerror(rc)))
}
