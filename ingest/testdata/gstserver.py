#!/usr/bin/env python3
"""An independent RTSP server for earshot's interop suite (ingest/interop_test.go).

GStreamer's gst-rtsp-server serves a sine tone per mount point, each encoded
and payloaded by GStreamer's own elements, so that earshot is tested against
packetizers it did not write. It listens on 127.0.0.1 on a free port, prints
"PORT <n>" on stdout once it serves, and exits when its stdin closes.

Usage: gstserver.py FREQ          (the tone's frequency in Hz; level -9 dBFS)
Debian packages: gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base
gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly
gstreamer1.0-libav python3-gi.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

# Mount point -> (raw caps, samples per buffer, encoder and payloader). The
# payloader is pay0; those of codecs without a static payload type get 96.
CASES = {
    "latm": ("rate=48000,channels=2", 1024, "avenc_aac ! rtpmp4apay"),
    "aac": ("rate=16000,channels=1", 1024, "avenc_aac ! rtpmp4gpay"),
    "mp2": ("rate=48000,channels=2", 1152, "avenc_mp2 ! rtpmpapay"),
    "mp3": ("rate=44100,channels=1", 1152, "lamemp3enc target=bitrate bitrate=64 ! rtpmpapay"),
    "amr": ("rate=8000,channels=1", 160, "amrnbenc band-mode=MR122 ! rtpamrpay"),
    "amr-wb": ("rate=16000,channels=1", 320, "voamrwbenc ! rtpamrpay"),
    "opus": ("rate=48000,channels=2", 960, "opusenc ! rtpopuspay"),
    "pcmu-20ms": ("rate=8000,channels=1", 160,
                  "mulawenc ! rtppcmupay min-ptime=20000000 max-ptime=20000000"),
    "pcma-60ms": ("rate=8000,channels=1", 480,
                  "alawenc ! rtppcmapay min-ptime=60000000 max-ptime=60000000"),
    "l16": ("format=S16BE,rate=44100,channels=2", 441, "rtpL16pay"),
}


def main():
    freq = float(sys.argv[1])
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service("0")
    mounts = server.get_mount_points()
    for name, (caps, spb, enc) in CASES.items():
        pt = "" if name.startswith(("pcm", "mp")) else " pt=96"
        launch = (
            f"( audiotestsrc is-live=true wave=sine freq={freq} volume=0.5 samplesperbuffer={spb} "
            f"! audioconvert ! audioresample ! audio/x-raw,{caps} ! audioconvert ! {enc} name=pay0{pt} )"
        )
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch)
        factory.set_shared(False)
        mounts.add_factory("/" + name, factory)
    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        sys.exit("gstserver: cannot listen")
    print(f"PORT {server.get_bound_port()}", flush=True)
    GLib.io_add_watch(sys.stdin.fileno(), GLib.IO_IN | GLib.IO_HUP | GLib.IO_ERR, lambda *_: loop.quit())
    loop.run()


if __name__ == "__main__":
    main()
