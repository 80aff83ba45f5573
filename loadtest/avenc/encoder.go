// Package avenc encodes PCM with FFmpeg's libavcodec encoders (Debian's
// libavcodec-dev), for synthetic cameras and tests that need AAC, G.722 or
// G.726 renditions of a clip. Encoding happens once, up front: nothing here
// is on a hot path, and each call allocates freely. libavcodec is opened
// on the first Encode (audio/avload), not linked.
package avenc

/*
#cgo CFLAGS: -I${SRCDIR}/../../audio/avload
#include <stdlib.h>
#include <string.h>
#include "avload.h"

static int enc_open(AVCodecContext **out, const char *name, int rate, int channels, int bit_rate, int frame_size) {
	*out = NULL;
	const AVCodec *codec = avcodec_find_encoder_by_name(name);
	if (!codec) return AVERROR_ENCODER_NOT_FOUND;
	AVCodecContext *c = avcodec_alloc_context3(codec);
	if (!c) return AVERROR(ENOMEM);
	c->sample_rate = rate;
	av_channel_layout_default(&c->ch_layout, channels);
	c->sample_fmt = codec->sample_fmts[0];
	c->bit_rate = bit_rate;
	c->frame_size = frame_size;
	int ret = avcodec_open2(c, codec, NULL);
	if (ret < 0) {
		avcodec_free_context(&c);
		return ret;
	}
	*out = c;
	return 0;
}

// enc_send sends n interleaved samples per channel from pcm, or flushes
// when pcm is NULL.
static int enc_send(AVCodecContext *c, const int16_t *pcm, int n) {
	if (!pcm) return avcodec_send_frame(c, NULL);
	AVFrame *f = av_frame_alloc();
	if (!f) return AVERROR(ENOMEM);
	f->nb_samples = n;
	f->format = c->sample_fmt;
	f->sample_rate = c->sample_rate;
	int ret = av_channel_layout_copy(&f->ch_layout, &c->ch_layout);
	if (ret >= 0) ret = av_frame_get_buffer(f, 0);
	if (ret < 0) {
		av_frame_free(&f);
		return ret;
	}
	int ch = c->ch_layout.nb_channels;
	switch (c->sample_fmt) {
	case AV_SAMPLE_FMT_S16:
		memcpy(f->data[0], pcm, n * ch * sizeof(int16_t));
		break;
	case AV_SAMPLE_FMT_FLTP:
		for (int i = 0; i < n; i++)
			for (int k = 0; k < ch; k++)
				((float *)f->extended_data[k])[i] = pcm[i * ch + k] / 32768.0f;
		break;
	case AV_SAMPLE_FMT_S16P:
		for (int i = 0; i < n; i++)
			for (int k = 0; k < ch; k++)
				((int16_t *)f->extended_data[k])[i] = pcm[i * ch + k];
		break;
	case AV_SAMPLE_FMT_S32P:
		for (int i = 0; i < n; i++)
			for (int k = 0; k < ch; k++)
				((int32_t *)f->extended_data[k])[i] = (int32_t)pcm[i * ch + k] << 16;
		break;
	default:
		av_frame_free(&f);
		return AVERROR_PATCHWELCOME;
	}
	ret = avcodec_send_frame(c, f);
	av_frame_free(&f);
	return ret;
}

// enc_receive copies the next packet into out and returns its size, or a
// negative AVERROR (EAGAIN: send more; EOF: flushed).
static int enc_receive(AVCodecContext *c, AVPacket *p, uint8_t *out, int cap) {
	int ret = avcodec_receive_packet(c, p);
	if (ret < 0) return ret;
	if (p->size > cap) ret = AVERROR(ERANGE);
	else {
		memcpy(out, p->data, p->size);
		ret = p->size;
	}
	av_packet_unref(p);
	return ret;
}

static int enc_eagain(void) { return AVERROR(EAGAIN); }

static AVPacket *enc_packet(void) { return av_packet_alloc(); }

static void enc_free(AVCodecContext **c, AVPacket **p) {
	avcodec_free_context(c);
	av_packet_free(p);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/earshot/earshot/audio/avload"
)

// maxPacket bounds one encoded packet: AAC allows 6144 bits per channel.
const maxPacket = 1 << 16

// Config selects an encoder and its input.
type Config struct {
	// Codec is the libavcodec encoder name: "aac", "g722", "g726" (G.726,
	// AAL2 packing), "g726le" (G.726, RFC 3551 packing), "mp2" (MPEG audio
	// Layer II) or "libmp3lame" (Layer III).
	Codec string
	// SampleRate and Channels describe the input PCM.
	SampleRate, Channels int
	// BitRate is in bits per second; G.726's selects its code word size.
	BitRate int
	// FrameSize is the samples per channel per frame for encoders that take
	// any size (G.722). It defaults to 160; AAC uses 1024 and G.726 its own.
	FrameSize int
}

// Stream is an encoded clip.
type Stream struct {
	// Packets holds one encoded frame each, in order.
	Packets [][]byte
	// Extradata is the codec configuration: the AudioSpecificConfig for AAC.
	Extradata []byte
	// Delay is the encoder's initial padding, in samples: the decoded
	// output lags the input by this much (1024 for AAC, 22 for G.722).
	Delay int
	// FrameSize is the samples per channel of every packet but the last.
	FrameSize int
}

// libav loads this package's libav table on the first Encode.
var libav avload.Once

// Encode encodes pcm, interleaved 16-bit samples, and flushes the encoder.
// Where libavcodec cannot be loaded it returns an error wrapping
// avload.ErrUnavailable.
func Encode(c Config, pcm []int16) (*Stream, error) {
	if err := libav.Do(func(reason []byte) bool {
		return C.avl_load((*C.char)(unsafe.Pointer(&reason[0])), C.size_t(len(reason))) == 0
	}); err != nil {
		return nil, fmt.Errorf("avenc: %w", err)
	}
	if c.SampleRate <= 0 || c.Channels <= 0 {
		return nil, fmt.Errorf("avenc: %s: invalid format %d Hz, %d channels", c.Codec, c.SampleRate, c.Channels)
	}
	if c.FrameSize == 0 {
		c.FrameSize = 160
	}
	name := C.CString(c.Codec)
	defer C.free(unsafe.Pointer(name))
	var ctx *C.AVCodecContext
	if ret := C.enc_open(&ctx, name, C.int(c.SampleRate), C.int(c.Channels), C.int(c.BitRate), C.int(c.FrameSize)); ret < 0 {
		return nil, fmt.Errorf("avenc: open %s encoder: %w", c.Codec, avError(ret))
	}
	pkt := C.enc_packet()
	defer C.enc_free(&ctx, &pkt)
	if pkt == nil {
		return nil, errors.New("avenc: out of memory")
	}

	s := &Stream{
		Extradata: C.GoBytes(unsafe.Pointer(ctx.extradata), ctx.extradata_size),
		Delay:     int(ctx.initial_padding),
		FrameSize: int(ctx.frame_size),
	}
	buf := make([]byte, maxPacket)
	drain := func() error {
		for {
			ret := C.enc_receive(ctx, pkt, (*C.uint8_t)(unsafe.Pointer(&buf[0])), C.int(len(buf)))
			if ret == C.enc_eagain() || ret == C.AVERROR_EOF {
				return nil
			}
			if ret < 0 {
				return fmt.Errorf("avenc: %s: receive packet: %w", c.Codec, avError(ret))
			}
			s.Packets = append(s.Packets, append([]byte(nil), buf[:ret]...))
		}
	}
	step := s.FrameSize * c.Channels
	for i := 0; i < len(pcm); i += step {
		frame := pcm[i:min(i+step, len(pcm))]
		if len(frame)%c.Channels != 0 {
			return nil, fmt.Errorf("avenc: %d samples are not a whole number of %d-channel frames", len(pcm), c.Channels)
		}
		if ret := C.enc_send(ctx, (*C.int16_t)(unsafe.Pointer(&frame[0])), C.int(len(frame)/c.Channels)); ret < 0 {
			return nil, fmt.Errorf("avenc: %s: send frame: %w", c.Codec, avError(ret))
		}
		if err := drain(); err != nil {
			return nil, err
		}
	}
	if ret := C.enc_send(ctx, nil, 0); ret < 0 {
		return nil, fmt.Errorf("avenc: %s: flush: %w", c.Codec, avError(ret))
	}
	return s, drain()
}

func avError(code C.int) error {
	var buf [C.AV_ERROR_MAX_STRING_SIZE]C.char
	C.avl_strerror(code, &buf[0], C.size_t(len(buf)))
	return errors.New(C.GoString(&buf[0]))
}
