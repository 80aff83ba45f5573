package decoder

// This file is the package's only cgo: a small binding to FFmpeg's
// libavcodec (Debian's libavcodec-dev, FFmpeg 5.1) for the codecs earshot
// does not decode in Go: AAC-LC, G.722 and G.726.
//
// The C side keeps one AVCodecContext, AVPacket and AVFrame per decoder and
// does the per-frame work in one call, es_decode: send the packet, receive
// every frame, and average the channels into int16 mono in the caller's
// buffer. One cgo call per access unit, no Go allocation: results come back
// in the C struct rather than through pointers to Go variables, which would
// escape to the heap.
//
// Memory: libavcodec allocates the decoder state in C, outside the Go heap
// and its accounting. An avDecoder must be freed with free; Decoder.Close
// does it, and a cleanup attached to the Decoder frees it if Close was
// forgotten.
//
// Loading: libavcodec is not linked but opened on the first newAVDecoder
// (audio/avload), so a process that decodes only Opus, G.711 or L16
// does not map it and the ~90 libraries it depends on.

/*
#cgo CFLAGS: -I${SRCDIR}/../avload
#cgo LDFLAGS: -lm
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include "avload.h"

typedef struct {
	AVCodecContext *ctx;
	AVPacket *pkt;
	AVFrame *frame;
	const AVCodec *codec;
	int sample_rate, channels, bits_per_coded_sample;
	// extradata is the configuration every (re)opened context gets.
	uint8_t *extradata;
	int extradata_size;
	// Results of the last es_decode: sample rate of its frames and samples
	// per channel decoded.
	int rate, samples;
} es_decoder;

// es_open replaces d->ctx with a freshly opened context.
static int es_open(es_decoder *d) {
	avcodec_free_context(&d->ctx);
	AVCodecContext *c = avcodec_alloc_context3(d->codec);
	if (!c) return AVERROR(ENOMEM);
	c->sample_rate = d->sample_rate;
	av_channel_layout_default(&c->ch_layout, d->channels);
	c->bits_per_coded_sample = d->bits_per_coded_sample;
	if (d->extradata_size > 0) {
		c->extradata = av_mallocz(d->extradata_size + AV_INPUT_BUFFER_PADDING_SIZE);
		if (!c->extradata) {
			avcodec_free_context(&c);
			return AVERROR(ENOMEM);
		}
		memcpy(c->extradata, d->extradata, d->extradata_size);
		c->extradata_size = d->extradata_size;
	}
	int ret = avcodec_open2(c, d->codec, NULL);
	if (ret < 0) {
		avcodec_free_context(&c);
		return ret;
	}
	d->ctx = c;
	return 0;
}

static void es_free(es_decoder *d) {
	if (!d) return;
	avcodec_free_context(&d->ctx);
	av_packet_free(&d->pkt);
	av_frame_free(&d->frame);
	av_free(d->extradata);
	av_free(d);
}

// es_configure stores extra as the configuration and reopens the context.
static int es_configure(es_decoder *d, const uint8_t *extra, int size) {
	av_freep(&d->extradata);
	d->extradata_size = 0;
	if (size > 0) {
		d->extradata = av_malloc(size);
		if (!d->extradata) return AVERROR(ENOMEM);
		memcpy(d->extradata, extra, size);
		d->extradata_size = size;
	}
	return es_open(d);
}

// es_new returns a decoder for codec_id in *out, opened unless open is 0
// (for AAC whose configuration arrives in-band later).
static int es_new(es_decoder **out, int codec_id, int rate, int channels, int bpcs,
		const uint8_t *extra, int extra_size, int open) {
	*out = NULL;
	const AVCodec *codec = avcodec_find_decoder(codec_id);
	if (!codec) return AVERROR_DECODER_NOT_FOUND;
	es_decoder *d = av_mallocz(sizeof(es_decoder));
	if (!d) return AVERROR(ENOMEM);
	d->codec = codec;
	d->sample_rate = rate;
	d->channels = channels;
	d->bits_per_coded_sample = bpcs;
	d->pkt = av_packet_alloc();
	d->frame = av_frame_alloc();
	if (!d->pkt || !d->frame) {
		es_free(d);
		return AVERROR(ENOMEM);
	}
	if (open) {
		int ret = es_configure(d, extra, extra_size);
		if (ret < 0) {
			es_free(d);
			return ret;
		}
	}
	*out = d;
	return 0;
}

static inline int16_t es_clip(float v) {
	v = v * 32768.0f;
	if (v >= 32767.0f) return 32767;
	if (v <= -32768.0f) return -32768;
	return (int16_t)lrintf(v);
}

// es_mix averages the channels of f into out as int16.
static int es_mix(const AVFrame *f, int16_t *out) {
	int n = f->nb_samples, ch = f->ch_layout.nb_channels;
	if (ch < 1) return AVERROR_INVALIDDATA;
	switch (f->format) {
	case AV_SAMPLE_FMT_FLTP:
		for (int i = 0; i < n; i++) {
			float s = 0;
			for (int c = 0; c < ch; c++) s += ((const float *)f->extended_data[c])[i];
			out[i] = es_clip(s / ch);
		}
		return 0;
	case AV_SAMPLE_FMT_FLT:
		for (int i = 0; i < n; i++) {
			float s = 0;
			for (int c = 0; c < ch; c++) s += ((const float *)f->data[0])[i * ch + c];
			out[i] = es_clip(s / ch);
		}
		return 0;
	case AV_SAMPLE_FMT_S16:
		if (ch == 1) {
			memcpy(out, f->data[0], n * sizeof(int16_t));
			return 0;
		}
		for (int i = 0; i < n; i++) {
			int s = 0;
			for (int c = 0; c < ch; c++) s += ((const int16_t *)f->data[0])[i * ch + c];
			out[i] = (int16_t)(s / ch);
		}
		return 0;
	case AV_SAMPLE_FMT_S16P:
		for (int i = 0; i < n; i++) {
			int s = 0;
			for (int c = 0; c < ch; c++) s += ((const int16_t *)f->extended_data[c])[i];
			out[i] = (int16_t)(s / ch);
		}
		return 0;
	}
	return AVERROR_PATCHWELCOME;
}

// es_decode decodes one packet into at most cap mono samples at out and
// returns how many it wrote, or a negative AVERROR. d->rate and d->samples
// describe the frames. All frames of a packet must share one rate.
static int es_decode(es_decoder *d, const uint8_t *data, int size, int16_t *out, int cap) {
	d->rate = 0;
	d->samples = 0;
	if (!d->ctx) return AVERROR(EINVAL);
	// A packet without data would start draining; the decoder would then
	// refuse every later packet.
	if (size <= 0) return AVERROR_INVALIDDATA;
	// Not reference-counted: avcodec_send_packet copies the bytes into a
	// padded buffer of its own before returning.
	d->pkt->data = (uint8_t *)data;
	d->pkt->size = size;
	int ret = avcodec_send_packet(d->ctx, d->pkt);
	d->pkt->data = NULL;
	d->pkt->size = 0;
	if (ret < 0) return ret;
	int n = 0;
	for (;;) {
		ret = avcodec_receive_frame(d->ctx, d->frame);
		if (ret == AVERROR(EAGAIN)) return n;
		if (ret < 0) return ret;
		AVFrame *f = d->frame;
		if (n + f->nb_samples > cap) ret = AVERROR(ERANGE);
		else if (d->rate != 0 && f->sample_rate != d->rate) ret = AVERROR_INVALIDDATA;
		else if (f->sample_rate <= 0) ret = AVERROR_INVALIDDATA;
		else ret = es_mix(f, out + n);
		if (ret < 0) {
			av_frame_unref(f);
			return ret;
		}
		d->rate = f->sample_rate;
		d->samples += f->nb_samples;
		n += f->nb_samples;
		av_frame_unref(f);
	}
}

static size_t es_heap_bytes(void) {
	struct mallinfo2 m = mallinfo2();
	return m.uordblks + m.hblkhd;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/earshot/earshot/audio/avload"
)

// libavcodec codec ids for the codecs decoded through it.
const (
	avCodecAAC      = C.AV_CODEC_ID_AAC
	avCodecG722     = C.AV_CODEC_ID_ADPCM_G722
	avCodecG726     = C.AV_CODEC_ID_ADPCM_G726   // AAL2 packing (big-endian)
	avCodecG726LE   = C.AV_CODEC_ID_ADPCM_G726LE // RFC 3551 packing
	avCodecMP3      = C.AV_CODEC_ID_MP3
	avCodecAMRNB    = C.AV_CODEC_ID_AMR_NB
	avCodecAMRWB    = C.AV_CODEC_ID_AMR_WB
	avMaxConfigSize = 64 // bytes of AudioSpecificConfig
)

// ErrLibavUnavailable is wrapped by New's error for a codec decoded with
// libavcodec when libavcodec or libavutil could not be loaded: only the
// streams of those codecs fail.
var ErrLibavUnavailable = avload.ErrUnavailable

// libav loads this package's libav table on the first newAVDecoder.
var libav avload.Once

func loadLibav() error {
	return libav.Do(func(reason []byte) bool {
		return C.avl_load((*C.char)(unsafe.Pointer(&reason[0])), C.size_t(len(reason))) == 0
	})
}

// avDecoder is one libavcodec decoder. Not safe for concurrent use.
type avDecoder struct {
	d *C.es_decoder
	// configured is set once a context opened: reset reopens only then.
	configured bool
}

// avParams are what newAVDecoder needs to open a codec.
type avParams struct {
	codec      C.int
	sampleRate int
	channels   int
	// bitsPerCodedSample is the G.726 code size (2..5 bits) or 8 for
	// G.722's 64 kbit/s mode.
	bitsPerCodedSample int
	// config is the AudioSpecificConfig for AAC; nil defers opening until
	// configure (in-band LATM configuration).
	config []byte
}

func newAVDecoder(p avParams) (*avDecoder, error) {
	if err := loadLibav(); err != nil {
		return nil, err
	}
	var d *C.es_decoder
	open := C.int(0)
	if p.codec != avCodecAAC || p.config != nil {
		open = 1
	}
	extra, size := cBytes(p.config)
	if ret := C.es_new(&d, p.codec, C.int(p.sampleRate), C.int(p.channels), C.int(p.bitsPerCodedSample), extra, size, open); ret < 0 {
		return nil, fmt.Errorf("libavcodec: %w", avError(ret))
	}
	return &avDecoder{d: d, configured: open != 0}, nil
}

// configure replaces the AAC configuration and reopens the decoder, which
// drops its history.
func (a *avDecoder) configure(config []byte) error {
	extra, size := cBytes(config)
	if ret := C.es_configure(a.d, extra, size); ret < 0 {
		return fmt.Errorf("libavcodec: configure: %w", avError(ret))
	}
	a.configured = true
	return nil
}

// open reports whether the decoder has a configuration to decode with.
func (a *avDecoder) open() bool { return a.d.ctx != nil }

// reset drops the decoder's history by reopening it with the same
// configuration: avcodec_flush_buffers leaves some AAC state (window
// shapes, SBR) behind, and a reset decoder must decode exactly as a new
// one. On failure the old state is gone and decode reports errors until a
// later reset or configure succeeds.
func (a *avDecoder) reset() {
	if a.configured {
		C.es_open(a.d)
	}
}

// decode decodes one packet (an AAC access unit, or a G.722 or G.726
// payload) into out as mono samples and returns how many it wrote, the
// rate of the frames and the samples per channel they held. out must hold
// the largest frame the codec can produce for the packet.
func (a *avDecoder) decode(data []byte, out []int16) (n, rate int, err error) {
	if len(data) == 0 || len(out) == 0 {
		return 0, 0, errEmptyPayload
	}
	ret := C.es_decode(a.d, (*C.uint8_t)(unsafe.Pointer(&data[0])), C.int(len(data)),
		(*C.int16_t)(unsafe.Pointer(&out[0])), C.int(len(out)))
	if ret < 0 {
		return 0, 0, avError(ret)
	}
	return int(ret), int(a.d.rate), nil
}

// free releases the C memory; a is unusable afterwards. It is idempotent.
func (a *avDecoder) free() {
	C.es_free(a.d)
	a.d = nil
}

func cBytes(b []byte) (*C.uint8_t, C.int) {
	if len(b) == 0 {
		return nil, 0
	}
	return (*C.uint8_t)(unsafe.Pointer(&b[0])), C.int(len(b))
}

// errInvalidData is libavcodec's AVERROR_INVALIDDATA, the usual verdict on
// a corrupt packet.
var errInvalidData = errors.New("invalid data")

// avError turns an AVERROR code into an error without allocating for the
// common case of invalid data, which a corrupt stream returns per packet.
func avError(code C.int) error {
	if code == C.AVERROR_INVALIDDATA {
		return errInvalidData
	}
	var buf [C.AV_ERROR_MAX_STRING_SIZE]C.char
	if C.avl_strerror(code, &buf[0], C.size_t(len(buf))) < 0 {
		return fmt.Errorf("libavcodec error %d", int(code))
	}
	return errors.New(C.GoString(&buf[0]))
}

// cHeapBytes returns the bytes the C allocator has handed out, for tests
// that account libavcodec's memory per stream.
func cHeapBytes() int64 { return int64(C.es_heap_bytes()) }
