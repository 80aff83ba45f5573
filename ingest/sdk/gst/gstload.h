// gstload.h binds GStreamer, GIO, GObject and GLib at run time, as
// audio/avload/avload.h does libavcodec: glue.c calls the functions listed
// in GSTL_FUNCS under their usual names, through pointers that gstl_load
// fills with dlopen and dlsym on the first gst.New. A process that never
// starts the GStreamer backend does not map the libraries, nor the ones
// they depend on (libdw, libunwind, libmount, libselinux, libblkid, libffi,
// libpcre2, …), whose relocated data would otherwise cost every earshot
// process ~1.5 MiB of private memory (issue 14).
//
// The headers (pkg-config's --cflags) still give the types, the constants
// and the macros; the libraries pkg-config names are on the link line but
// nothing references them, so the linker, with --as-needed, records none
// (gst.go). Only glue.c includes this file, first: its table is static,
// and its macros would turn the names Go calls through cgo into
// expressions.
#ifndef EARSHOT_GSTLOAD_H
#define EARSHOT_GSTLOAD_H

#ifdef __GST_H__
#error "include gstload.h before GStreamer's headers"
#endif

// gst_sample_unref, gst_caps_unref and gst_message_unref are inline
// functions of the headers calling gst_mini_object_unref, which the
// macros below could not reach; this makes them plain declarations of the
// functions libgstreamer also exports, bound like the others.
#define GST_DISABLE_MINIOBJECT_INLINE_FUNCTIONS

#include <dlfcn.h>
#include <stdio.h>
#include <gio/gio.h>
#include <gst/gst.h>
#include <gst/app/gstappsink.h>
#include <gst/rtp/gstrtcpbuffer.h>
#include <gst/rtp/gstrtpbuffer.h>
#include <gst/rtsp/gstrtspmessage.h>

// GSTL_FUNCS lists every function of those libraries that glue.c calls,
// with the library that exports it, including those the headers' macros
// expand to: g_signal_connect is g_signal_connect_data, the casts
// (G_OBJECT, GST_ELEMENT, GST_BIN, GST_APP_SINK) call
// g_type_check_instance_cast and the *_get_type functions,
// G_VALUE_HOLDS_STRING g_type_check_value_holds, GST_RESOURCE_ERROR and
// GST_STREAM_ERROR their quark functions. A function missing here is
// bound to the real symbol by the linker, which then records its library
// as needed: TestNoGStreamerSymbolIsLinked names it.
#define GSTL_FUNCS(X) \
	X(glib, g_byte_array_unref) \
	X(glib, g_error_free) \
	X(glib, g_free) \
	X(gobject, g_object_get) \
	X(gobject, g_object_get_data) \
	X(gobject, g_object_set) \
	X(gobject, g_object_set_data) \
	X(gobject, g_object_unref) \
	X(gobject, g_signal_connect_data) \
	X(gobject, g_type_check_instance_cast) \
	X(gobject, g_type_check_value_holds) \
	X(gobject, g_value_dup_string) \
	X(gio, g_tls_certificate_get_issuer) \
	X(gio, g_tls_file_database_new) \
	X(gstreamer, gst_bin_add_many) \
	X(gstreamer, gst_bin_get_type) \
	X(gstreamer, gst_buffer_list_get) \
	X(gstreamer, gst_buffer_list_length) \
	X(gstreamer, gst_bus_set_sync_handler) \
	X(gstreamer, gst_caps_get_structure) \
	X(gstreamer, gst_caps_new_empty_simple) \
	X(gstreamer, gst_caps_unref) \
	X(gstreamer, gst_deinit) \
	X(gstreamer, gst_element_factory_make) \
	X(gstreamer, gst_element_get_bus) \
	X(gstreamer, gst_element_get_static_pad) \
	X(gstreamer, gst_element_get_type) \
	X(gstreamer, gst_element_set_state) \
	X(gstreamer, gst_init_check) \
	X(gstreamer, gst_message_parse_error) \
	X(gstreamer, gst_message_parse_warning) \
	X(gstreamer, gst_message_unref) \
	X(gstreamer, gst_object_unref) \
	X(gstreamer, gst_pad_add_probe) \
	X(gstreamer, gst_pad_is_linked) \
	X(gstreamer, gst_pad_link) \
	X(gstreamer, gst_pipeline_new) \
	X(gstreamer, gst_resource_error_quark) \
	X(gstreamer, gst_sample_get_buffer) \
	X(gstreamer, gst_sample_unref) \
	X(gstreamer, gst_stream_error_quark) \
	X(gstreamer, gst_structure_get_value) \
	X(gstreamer, gst_structure_n_fields) \
	X(gstreamer, gst_structure_nth_field_name) \
	X(gstreamer, gst_value_serialize) \
	X(gstapp, gst_app_sink_get_type) \
	X(gstapp, gst_app_sink_pull_sample) \
	X(gstapp, gst_app_sink_set_callbacks) \
	X(gstrtp, gst_rtcp_buffer_get_first_packet) \
	X(gstrtp, gst_rtcp_buffer_map) \
	X(gstrtp, gst_rtcp_buffer_unmap) \
	X(gstrtp, gst_rtcp_buffer_validate_reduced) \
	X(gstrtp, gst_rtcp_packet_get_type) \
	X(gstrtp, gst_rtcp_packet_move_to_next) \
	X(gstrtp, gst_rtcp_packet_sr_get_sender_info) \
	X(gstrtp, gst_rtp_buffer_get_marker) \
	X(gstrtp, gst_rtp_buffer_get_payload) \
	X(gstrtp, gst_rtp_buffer_get_payload_len) \
	X(gstrtp, gst_rtp_buffer_get_seq) \
	X(gstrtp, gst_rtp_buffer_get_ssrc) \
	X(gstrtp, gst_rtp_buffer_get_timestamp) \
	X(gstrtp, gst_rtp_buffer_map) \
	X(gstrtp, gst_rtp_buffer_unmap)

// gstl_table holds a pointer of the declared type for each function.
struct gstl_table {
#define GSTL_FIELD(lib, f) __typeof__(f) *f;
	GSTL_FUNCS(GSTL_FIELD)
#undef GSTL_FIELD
};

static struct gstl_table gstl;

// gstl_load opens the libraries (RTLD_NOW | RTLD_LOCAL: GStreamer's
// plugins and GIO's modules link them themselves, and the dynamic loader
// gives them the copies already loaded) and resolves every function of
// GSTL_FUNCS. It returns 0, or -1 with dlerror's message in err, leaving
// the table untouched. The libraries stay loaded.
static int gstl_load(char *err, size_t n) {
	struct gstl_table t;
	void *h_glib = NULL, *h_gobject = NULL, *h_gio = NULL, *h_gstreamer = NULL, *h_gstapp = NULL,
	     *h_gstrtp = NULL;
	// The sonames of the GLib 2 and GStreamer 1 series, unchanged since
	// 2002 and 2012; the headers do not spell them. (GstRTSPMessage is
	// read through its header only: libgstrtsp is not needed.)
#define GSTL_OPEN(lib, soname) \
	if (!(h_##lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL))) goto fail;
	GSTL_OPEN(glib, "libglib-2.0.so.0")
	GSTL_OPEN(gobject, "libgobject-2.0.so.0")
	GSTL_OPEN(gio, "libgio-2.0.so.0")
	GSTL_OPEN(gstreamer, "libgstreamer-1.0.so.0")
	GSTL_OPEN(gstapp, "libgstapp-1.0.so.0")
	GSTL_OPEN(gstrtp, "libgstrtp-1.0.so.0")
#undef GSTL_OPEN
#define GSTL_RESOLVE(lib, f) \
	if (!(t.f = (__typeof__(f) *)dlsym(h_##lib, #f))) goto fail;
	GSTL_FUNCS(GSTL_RESOLVE)
#undef GSTL_RESOLVE
	gstl = t;
	return 0;
fail:;
	const char *msg = dlerror();
	snprintf(err, n, "%s", msg ? msg : "unknown dlopen error");
	void *opened[] = {h_gstrtp, h_gstapp, h_gstreamer, h_gio, h_gobject, h_glib};
	for (size_t i = 0; i < sizeof opened / sizeof opened[0]; i++) {
		if (opened[i]) dlclose(opened[i]);
	}
	return -1;
}

// From here on the names call through the table.
#define g_byte_array_unref gstl.g_byte_array_unref
#define g_error_free gstl.g_error_free
#define g_free gstl.g_free
#define g_object_get gstl.g_object_get
#define g_object_get_data gstl.g_object_get_data
#define g_object_set gstl.g_object_set
#define g_object_set_data gstl.g_object_set_data
#define g_object_unref gstl.g_object_unref
#define g_signal_connect_data gstl.g_signal_connect_data
#define g_type_check_instance_cast gstl.g_type_check_instance_cast
#define g_type_check_value_holds gstl.g_type_check_value_holds
#define g_value_dup_string gstl.g_value_dup_string
#define g_tls_certificate_get_issuer gstl.g_tls_certificate_get_issuer
#define g_tls_file_database_new gstl.g_tls_file_database_new
#define gst_bin_add_many gstl.gst_bin_add_many
#define gst_bin_get_type gstl.gst_bin_get_type
#define gst_buffer_list_get gstl.gst_buffer_list_get
#define gst_buffer_list_length gstl.gst_buffer_list_length
#define gst_bus_set_sync_handler gstl.gst_bus_set_sync_handler
#define gst_caps_get_structure gstl.gst_caps_get_structure
#define gst_caps_new_empty_simple gstl.gst_caps_new_empty_simple
#define gst_caps_unref gstl.gst_caps_unref
#define gst_deinit gstl.gst_deinit
#define gst_element_factory_make gstl.gst_element_factory_make
#define gst_element_get_bus gstl.gst_element_get_bus
#define gst_element_get_static_pad gstl.gst_element_get_static_pad
#define gst_element_get_type gstl.gst_element_get_type
#define gst_element_set_state gstl.gst_element_set_state
#define gst_init_check gstl.gst_init_check
#define gst_message_parse_error gstl.gst_message_parse_error
#define gst_message_parse_warning gstl.gst_message_parse_warning
#define gst_message_unref gstl.gst_message_unref
#define gst_object_unref gstl.gst_object_unref
#define gst_pad_add_probe gstl.gst_pad_add_probe
#define gst_pad_is_linked gstl.gst_pad_is_linked
#define gst_pad_link gstl.gst_pad_link
#define gst_pipeline_new gstl.gst_pipeline_new
#define gst_resource_error_quark gstl.gst_resource_error_quark
#define gst_sample_get_buffer gstl.gst_sample_get_buffer
#define gst_sample_unref gstl.gst_sample_unref
#define gst_stream_error_quark gstl.gst_stream_error_quark
#define gst_structure_get_value gstl.gst_structure_get_value
#define gst_structure_n_fields gstl.gst_structure_n_fields
#define gst_structure_nth_field_name gstl.gst_structure_nth_field_name
#define gst_value_serialize gstl.gst_value_serialize
#define gst_app_sink_get_type gstl.gst_app_sink_get_type
#define gst_app_sink_pull_sample gstl.gst_app_sink_pull_sample
#define gst_app_sink_set_callbacks gstl.gst_app_sink_set_callbacks
#define gst_rtcp_buffer_get_first_packet gstl.gst_rtcp_buffer_get_first_packet
#define gst_rtcp_buffer_map gstl.gst_rtcp_buffer_map
#define gst_rtcp_buffer_unmap gstl.gst_rtcp_buffer_unmap
#define gst_rtcp_buffer_validate_reduced gstl.gst_rtcp_buffer_validate_reduced
#define gst_rtcp_packet_get_type gstl.gst_rtcp_packet_get_type
#define gst_rtcp_packet_move_to_next gstl.gst_rtcp_packet_move_to_next
#define gst_rtcp_packet_sr_get_sender_info gstl.gst_rtcp_packet_sr_get_sender_info
#define gst_rtp_buffer_get_marker gstl.gst_rtp_buffer_get_marker
#define gst_rtp_buffer_get_payload gstl.gst_rtp_buffer_get_payload
#define gst_rtp_buffer_get_payload_len gstl.gst_rtp_buffer_get_payload_len
#define gst_rtp_buffer_get_seq gstl.gst_rtp_buffer_get_seq
#define gst_rtp_buffer_get_ssrc gstl.gst_rtp_buffer_get_ssrc
#define gst_rtp_buffer_get_timestamp gstl.gst_rtp_buffer_get_timestamp
#define gst_rtp_buffer_map gstl.gst_rtp_buffer_map
#define gst_rtp_buffer_unmap gstl.gst_rtp_buffer_unmap

#endif
