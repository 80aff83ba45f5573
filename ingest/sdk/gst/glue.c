//go:build gstreamer

// gstload.h comes first: it includes GStreamer's headers after making
// their inline unref functions plain declarations.
#include "gstload.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "glue.h"
#include "_cgo_export.h"

int es_load(char *err, size_t n) { return gstl_load(err, n) == 0; }

int es_init(void) {
	GError *err = NULL;
	if (!gst_init_check(NULL, NULL, &err)) {
		if (err) g_error_free(err);
		return 0;
	}
	return 1;
}

// on_new_sample runs on a GStreamer streaming thread. The buffer is mapped
// only for the duration of goNewSample.
static GstFlowReturn on_new_sample(GstAppSink *sink, gpointer ud) {
	GstSample *s = gst_app_sink_pull_sample(sink);
	if (s == NULL) return GST_FLOW_FLUSHING;
	GstBuffer *b = gst_sample_get_buffer(s);
	GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
	if (b != NULL && gst_rtp_buffer_map(b, GST_MAP_READ, &rtp)) {
		goNewSample((uintptr_t)ud, gst_rtp_buffer_get_payload(&rtp),
			(int)gst_rtp_buffer_get_payload_len(&rtp),
			gst_rtp_buffer_get_timestamp(&rtp), gst_rtp_buffer_get_seq(&rtp),
			gst_rtp_buffer_get_marker(&rtp) ? 1 : 0, gst_rtp_buffer_get_ssrc(&rtp));
		gst_rtp_buffer_unmap(&rtp);
	} else {
		goBadBuffer((uintptr_t)ud);
	}
	gst_sample_unref(s);
	return GST_FLOW_OK;
}

// on_select_stream runs on rtspsrc's thread once per SDP media; Go picks
// the first audio track earshot decodes.
static gboolean on_select_stream(GstElement *src, guint num, GstCaps *caps, gpointer ud) {
	return goSelectStream((uintptr_t)ud, num, caps) ? TRUE : FALSE;
}

static void on_pad_added(GstElement *src, GstPad *pad, gpointer ud) {
	GstElement *sink = GST_ELEMENT(g_object_get_data(G_OBJECT(src), "es-sink"));
	GstPad *sinkpad = gst_element_get_static_pad(sink, "sink");
	int ok = 0;
	if (!gst_pad_is_linked(sinkpad)) {
		ok = gst_pad_link(pad, sinkpad) == GST_PAD_LINK_OK;
	}
	gst_object_unref(sinkpad);
	if (ok) goPadLinked((uintptr_t)ud);
}

// rtcp_buffer reports one RTCP buffer to Go, with the sender info of the
// last sender report in it, if any.
static void rtcp_buffer(GstBuffer *b, uintptr_t h) {
	int sr = 0;
	guint64 ntp = 0;
	guint32 rtptime = 0;
	GstRTCPBuffer rtcp = GST_RTCP_BUFFER_INIT;
	if (gst_rtcp_buffer_validate_reduced(b) && gst_rtcp_buffer_map(b, GST_MAP_READ, &rtcp)) {
		GstRTCPPacket pkt;
		gboolean more = gst_rtcp_buffer_get_first_packet(&rtcp, &pkt);
		while (more) {
			if (gst_rtcp_packet_get_type(&pkt) == GST_RTCP_TYPE_SR) {
				guint32 ssrc, packets, octets;
				gst_rtcp_packet_sr_get_sender_info(&pkt, &ssrc, &ntp, &rtptime, &packets, &octets);
				sr = 1;
			}
			more = gst_rtcp_packet_move_to_next(&pkt);
		}
		gst_rtcp_buffer_unmap(&rtcp);
	}
	goRTCP(h, sr, ntp, rtptime);
}

static GstPadProbeReturn on_rtcp(GstPad *pad, GstPadProbeInfo *info, gpointer ud) {
	if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
		rtcp_buffer(GST_PAD_PROBE_INFO_BUFFER(info), (uintptr_t)ud);
	} else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
		GstBufferList *l = GST_PAD_PROBE_INFO_BUFFER_LIST(info);
		for (guint i = 0; i < gst_buffer_list_length(l); i++) {
			rtcp_buffer(gst_buffer_list_get(l, i), (uintptr_t)ud);
		}
	}
	return GST_PAD_PROBE_OK;
}

// on_before_send runs on rtspsrc's thread before each request. rtspsrc
// follows redirects by changing its location and starting over: Go drops
// every request to another location than the one it gave, before rtspsrc
// can attach credentials to it, and a DESCRIBE that starts over.
static gboolean on_before_send(GstElement *src, GstRTSPMessage *msg, gpointer ud) {
	gchar *loc = NULL;
	g_object_get(src, "location", &loc, NULL);
	int method = 0;
	if (msg->type == GST_RTSP_MESSAGE_REQUEST) {
		if (msg->type_data.request.method == GST_RTSP_DESCRIBE) method = 1;
		else if (msg->type_data.request.method == GST_RTSP_SETUP) method = 2;
	}
	int ok = goBeforeSend((uintptr_t)ud, loc, method);
	g_free(loc);
	return ok ? TRUE : FALSE;
}

// on_accept_certificate runs on rtspsrc's thread when GIO did not trust
// the server's certificate; Go verifies the chain with the handle's
// tls.Config. The chain is passed as DER certificates, leaf first.
static gboolean on_accept_certificate(GstElement *src, GTlsConnection *conn, GTlsCertificate *peer,
	GTlsCertificateFlags errors, gpointer ud) {
	GByteArray *ders[8];
	const void *data[8];
	int lens[8];
	int n = 0;
	for (GTlsCertificate *c = peer; c != NULL && n < 8; c = g_tls_certificate_get_issuer(c)) {
		GByteArray *der = NULL;
		g_object_get(c, "certificate", &der, NULL);
		if (der == NULL) break;
		ders[n] = der;
		data[n] = der->data;
		lens[n] = der->len;
		n++;
	}
	int ok = goAcceptCertificate((uintptr_t)ud, (void **)data, lens, n);
	for (int i = 0; i < n; i++) g_byte_array_unref(ders[i]);
	return ok ? TRUE : FALSE;
}

// on_manager_pad watches the RTCP rtspsrc feeds rtpbin, so that a source
// that keeps reporting while its audio stopped is told apart.
static void on_manager_pad(GstElement *manager, GstPad *pad, gpointer ud) {
	static const char rtcp_sink[] = "recv_rtcp_sink";
	if (GST_PAD_DIRECTION(pad) == GST_PAD_SINK && strncmp(GST_PAD_NAME(pad), rtcp_sink, sizeof rtcp_sink - 1) == 0) {
		gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST, on_rtcp, ud, NULL);
	}
}

// on_new_jitterbuffer runs on rtpbin's streaming thread when a packet of
// an SSRC it has not seen arrives, before that SSRC's jitter buffer: Go
// tells a changed SSRC from the first. (The new jitter buffer would often
// drop the new SSRC's packets for good, as "before seqnum-base" of the
// first, and rtspsrc never expose them.)
static void on_new_jitterbuffer(GstElement *manager, GstElement *jb, guint session, guint ssrc, gpointer ud) {
	goNewSSRC((uintptr_t)ud, ssrc);
}

static void on_new_manager(GstElement *src, GstElement *manager, gpointer ud) {
	g_signal_connect(manager, "pad-added", G_CALLBACK(on_manager_pad), ud);
	g_signal_connect(manager, "new-jitterbuffer", G_CALLBACK(on_new_jitterbuffer), ud);
}

static GstBusSyncReply on_bus(GstBus *bus, GstMessage *m, gpointer ud) {
	switch (GST_MESSAGE_TYPE(m)) {
	case GST_MESSAGE_ERROR: {
		GError *e = NULL;
		gchar *dbg = NULL;
		gst_message_parse_error(m, &e, &dbg);
		int domain = 0;
		if (e->domain == GST_RESOURCE_ERROR) domain = 1;
		else if (e->domain == GST_STREAM_ERROR) domain = 2;
		goBusMessage((uintptr_t)ud, 1, e->message, domain, e->code);
		g_error_free(e);
		g_free(dbg);
		break;
	}
	case GST_MESSAGE_EOS:
		goBusMessage((uintptr_t)ud, 2, "end of stream", 0, 0);
		break;
	case GST_MESSAGE_WARNING: {
		GError *e = NULL;
		gchar *dbg = NULL;
		gst_message_parse_warning(m, &e, &dbg);
		goBusMessage((uintptr_t)ud, 3, e->message, 0, e->code);
		g_error_free(e);
		g_free(dbg);
		break;
	}
	default:
		break;
	}
	// A sync handler that drops a message owns it.
	gst_message_unref(m);
	return GST_BUS_DROP;
}

esPipe *es_new(uintptr_t h, const char *location, const char *user, const char *pw,
	int protocols, int latency_ms, guint64 tcp_timeout_us, guint64 udp_timeout_us, int tls_insecure,
	GTlsDatabase *tls_database) {
	esPipe *p = calloc(1, sizeof *p);
	p->pipeline = gst_pipeline_new(NULL);
	p->src = gst_element_factory_make("rtspsrc", NULL);
	p->sink = gst_element_factory_make("appsink", NULL);
	if (p->pipeline == NULL || p->src == NULL || p->sink == NULL) {
		if (p->src) gst_object_unref(p->src);
		if (p->sink) gst_object_unref(p->sink);
		if (p->pipeline) gst_object_unref(p->pipeline);
		free(p);
		return NULL;
	}
	g_object_set(p->src, "location", location, "protocols", protocols, "latency", latency_ms,
		"tcp-timeout", tcp_timeout_us, "timeout", udp_timeout_us,
		// gortsplib's server (the synthetic cameras) holds SETUP 1 s for
		// user agents starting with "GStreamer", a workaround for
		// rtspclientsink; earshot names itself.
		"user-agent", "earshot (GStreamer rtspsrc)", NULL);
	if (user != NULL && user[0] != 0) g_object_set(p->src, "user-id", user, NULL);
	if (pw != NULL && pw[0] != 0) g_object_set(p->src, "user-pw", pw, NULL);
	if (tls_insecure) g_object_set(p->src, "tls-validation-flags", 0, NULL);
	if (tls_database != NULL) g_object_set(p->src, "tls-database", tls_database, NULL);
	GstCaps *caps = gst_caps_new_empty_simple("application/x-rtp");
	g_object_set(p->sink, "caps", caps, "sync", FALSE, "max-buffers", 1, "emit-signals", FALSE, NULL);
	gst_caps_unref(caps);
	GstAppSinkCallbacks cb = {0};
	cb.new_sample = on_new_sample;
	gst_app_sink_set_callbacks(GST_APP_SINK(p->sink), &cb, (gpointer)h, NULL);
	g_object_set_data(G_OBJECT(p->src), "es-sink", p->sink);
	g_signal_connect(p->src, "select-stream", G_CALLBACK(on_select_stream), (gpointer)h);
	g_signal_connect(p->src, "pad-added", G_CALLBACK(on_pad_added), (gpointer)h);
	g_signal_connect(p->src, "new-manager", G_CALLBACK(on_new_manager), (gpointer)h);
	g_signal_connect(p->src, "before-send", G_CALLBACK(on_before_send), (gpointer)h);
	g_signal_connect(p->src, "accept-certificate", G_CALLBACK(on_accept_certificate), (gpointer)h);
	gst_bin_add_many(GST_BIN(p->pipeline), p->src, p->sink, NULL);
	GstBus *bus = gst_element_get_bus(p->pipeline);
	gst_bus_set_sync_handler(bus, on_bus, (gpointer)h, NULL);
	gst_object_unref(bus);
	return p;
}

GTlsDatabase *es_tls_database(const char *path) {
	GError *err = NULL;
	GTlsDatabase *db = g_tls_file_database_new(path, &err);
	if (err != NULL) g_error_free(err);
	return db;
}

void es_unref(gpointer obj) { g_object_unref(obj); }

void es_g_free(gpointer mem) { g_free(mem); }

void es_deinit(void) { gst_deinit(); }

int es_play(esPipe *p) {
	return gst_element_set_state(p->pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE;
}

// es_free stops the pipeline, which joins its streaming threads, so that
// no callback runs once it returns.
void es_free(esPipe *p) {
	gst_element_set_state(p->pipeline, GST_STATE_NULL);
	GstBus *bus = gst_element_get_bus(p->pipeline);
	gst_bus_set_sync_handler(bus, NULL, NULL, NULL);
	gst_object_unref(bus);
	gst_object_unref(p->pipeline);
	free(p);
}

int es_structure_n(GstCaps *caps) {
	return gst_structure_n_fields(gst_caps_get_structure(caps, 0));
}

const char *es_structure_field(GstCaps *caps, int i) {
	return gst_structure_nth_field_name(gst_caps_get_structure(caps, 0), i);
}

// es_structure_value returns the field as text, to be freed with es_g_free.
char *es_structure_value(GstCaps *caps, const char *name) {
	const GValue *v = gst_structure_get_value(gst_caps_get_structure(caps, 0), name);
	if (v == NULL) return NULL;
	if (G_VALUE_HOLDS_STRING(v)) return g_value_dup_string(v);
	return gst_value_serialize(v);
}

static int64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

typedef struct { int n; int64_t *out; } costArgs;

static void *cost_thread(void *arg) {
	costArgs *a = arg;
	for (int i = 0; i < a->n; i++) {
		int64_t t0 = now_ns();
		goNoop();
		a->out[i] = now_ns() - t0;
	}
	return NULL;
}

int es_call_cost(int n, int64_t *out) {
	pthread_t t;
	costArgs a = {n, out};
	if (pthread_create(&t, NULL, cost_thread, &a) != 0) return 0;
	pthread_join(t, NULL);
	return 1;
}
