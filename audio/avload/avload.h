// avload.h binds libavcodec and libavutil at run time. A cgo package that
// includes it (with #cgo CFLAGS: -I${SRCDIR}/<path to this directory>, and
// no -lavcodec -lavutil) calls the libav functions listed in AVL_FUNCS
// under their usual names through pointers that avl_load fills with
// dlopen and dlsym. A process that never calls avl_load does not map the
// libraries, nor the ~90 they depend on.
//
// The headers (Debian's libavcodec-dev) still give the types, constants
// and the sonames; nothing is linked. Each including package has its own
// static table and must call avl_load, once, before any libav call; the
// Go side (package avload) does the once. Include it from one file per
// package: a second file would have a second table, never loaded.
#ifndef EARSHOT_AVLOAD_H
#define EARSHOT_AVLOAD_H

#include <dlfcn.h>
#include <stdio.h>
#include <libavcodec/avcodec.h>
#include <libavutil/channel_layout.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/log.h>
#include <libavutil/mem.h>

// The sonames the headers were written for: "libavcodec.so.59" and
// "libavutil.so.57" with FFmpeg 5.1.
#define AVL_AVCODEC_SONAME "libavcodec.so." AV_STRINGIFY(LIBAVCODEC_VERSION_MAJOR)
#define AVL_AVUTIL_SONAME "libavutil.so." AV_STRINGIFY(LIBAVUTIL_VERSION_MAJOR)

// AVL_FUNCS lists every libav function the C code of earshot calls, with
// the library that exports it. A function missing here fails the link
// (undefined reference), as nothing provides the real symbol.
#define AVL_FUNCS(X)                      \
	X(avcodec, av_packet_alloc)           \
	X(avcodec, av_packet_free)            \
	X(avcodec, av_packet_unref)           \
	X(avcodec, avcodec_alloc_context3)    \
	X(avcodec, avcodec_find_decoder)      \
	X(avcodec, avcodec_find_encoder_by_name) \
	X(avcodec, avcodec_free_context)      \
	X(avcodec, avcodec_open2)             \
	X(avcodec, avcodec_receive_frame)     \
	X(avcodec, avcodec_receive_packet)    \
	X(avcodec, avcodec_send_frame)        \
	X(avcodec, avcodec_send_packet)       \
	X(avutil, av_channel_layout_copy)     \
	X(avutil, av_channel_layout_default)  \
	X(avutil, av_frame_alloc)             \
	X(avutil, av_frame_free)              \
	X(avutil, av_frame_get_buffer)        \
	X(avutil, av_frame_unref)             \
	X(avutil, av_free)                    \
	X(avutil, av_freep)                   \
	X(avutil, av_log_set_level)           \
	X(avutil, av_malloc)                  \
	X(avutil, av_mallocz)                 \
	X(avutil, av_strerror)

// avl_table holds a pointer of the declared type for each function.
struct avl_table {
#define AVL_FIELD(lib, f) __typeof__(f) *f;
	AVL_FUNCS(AVL_FIELD)
#undef AVL_FIELD
};

static struct avl_table avl;

// avl_load opens libavcodec and libavutil (RTLD_NOW | RTLD_LOCAL) and
// resolves every function of AVL_FUNCS. It returns 0, or -1 with dlerror's
// message in err, leaving the table untouched. It sets libav's log level
// to quiet: libavcodec would otherwise write a line to stderr for every
// malformed packet, which callers report as errors and count instead.
static int avl_load(char *err, size_t n) {
	struct avl_table t;
	void *h_avcodec = NULL, *h_avutil = NULL;
	if (!(h_avcodec = dlopen(AVL_AVCODEC_SONAME, RTLD_NOW | RTLD_LOCAL))) goto fail;
	if (!(h_avutil = dlopen(AVL_AVUTIL_SONAME, RTLD_NOW | RTLD_LOCAL))) goto fail;
#define AVL_RESOLVE(lib, f) \
	if (!(t.f = (__typeof__(f) *)dlsym(h_##lib, #f))) goto fail;
	AVL_FUNCS(AVL_RESOLVE)
#undef AVL_RESOLVE
	avl = t;
	avl.av_log_set_level(AV_LOG_QUIET);
	return 0;
fail:;
	const char *msg = dlerror();
	snprintf(err, n, "%s", msg ? msg : "unknown dlopen error");
	if (h_avutil) dlclose(h_avutil);
	if (h_avcodec) dlclose(h_avcodec);
	return -1;
}

// From here on the libav names call through the table.
#define av_packet_alloc avl.av_packet_alloc
#define av_packet_free avl.av_packet_free
#define av_packet_unref avl.av_packet_unref
#define avcodec_alloc_context3 avl.avcodec_alloc_context3
#define avcodec_find_decoder avl.avcodec_find_decoder
#define avcodec_find_encoder_by_name avl.avcodec_find_encoder_by_name
#define avcodec_free_context avl.avcodec_free_context
#define avcodec_open2 avl.avcodec_open2
#define avcodec_receive_frame avl.avcodec_receive_frame
#define avcodec_receive_packet avl.avcodec_receive_packet
#define avcodec_send_frame avl.avcodec_send_frame
#define avcodec_send_packet avl.avcodec_send_packet
#define av_channel_layout_copy avl.av_channel_layout_copy
#define av_channel_layout_default avl.av_channel_layout_default
#define av_frame_alloc avl.av_frame_alloc
#define av_frame_free avl.av_frame_free
#define av_frame_get_buffer avl.av_frame_get_buffer
#define av_frame_unref avl.av_frame_unref
#define av_free avl.av_free
#define av_freep avl.av_freep
#define av_log_set_level avl.av_log_set_level
#define av_malloc avl.av_malloc
#define av_mallocz avl.av_mallocz
#define av_strerror avl.av_strerror

// avl_strerror is av_strerror for Go, which cannot call through a pointer.
static int avl_strerror(int code, char *buf, size_t n) { return av_strerror(code, buf, n); }

#endif
