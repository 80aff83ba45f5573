// C side of package gst: one pipeline per handle and the trampolines that
// GStreamer's streaming threads call. Nothing here keeps a Go pointer: the
// user data of every callback is a cgo.Handle, an integer.
#ifndef EARSHOT_GST_GLUE_H
#define EARSHOT_GST_GLUE_H
#include <stdint.h>
#include <gst/gst.h>
#include <gio/gio.h>
#include <gst/app/gstappsink.h>

typedef struct {
	GstElement *pipeline;
	GstElement *src;
	GstElement *sink;
} esPipe;

esPipe *es_new(uintptr_t h, const char *location, const char *user, const char *pw,
	int protocols, int latency_ms, guint64 tcp_timeout_us, guint64 udp_timeout_us, int tls_insecure,
	GTlsDatabase *tls_database);
// es_tls_database loads a trust store from a PEM file, or returns NULL.
GTlsDatabase *es_tls_database(const char *path);
void es_unref(gpointer obj);
int es_play(esPipe *p);
void es_free(esPipe *p);
int es_structure_n(GstCaps *caps);
const char *es_structure_field(GstCaps *caps, int i);
char *es_structure_value(GstCaps *caps, const char *name);
// es_load loads GStreamer's libraries (gstload.h): it returns 1, or 0
// with the reason in err. Nothing else may be called before it succeeds.
int es_load(char *err, size_t n);
int es_init(void);
// es_g_free and es_deinit are g_free and gst_deinit for Go, which cannot
// call through the table's pointers.
void es_g_free(gpointer mem);
void es_deinit(void);
// es_call_cost calls goNoop n times from a new C thread and stores each
// call's duration in ns in out; out[0] is the thread's first call.
int es_call_cost(int n, int64_t *out);
#endif
