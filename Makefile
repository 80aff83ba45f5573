# earshot — see README.md. `make demo` and `make test` work on a fresh Debian
# machine: they install the missing system packages first.

GO          ?= go
# libopus through cgo (gopkg.in/hraban/opus.v2 also links libopusfile);
# FFmpeg's libavcodec and libavutil (5.1 on bookworm) through cgo for AAC,
# G.722 and G.726 (package audio/decoder) and their encoders (loadtest/avenc):
# headers at build time, the libraries dlopened on first use (audio/avload);
# kcat reads records back in a test, as an independent Kafka client;
# chromium runs the console's browser test (cmd/earshot, through chromedp);
# ffmpeg is what `earshot loadtest --compare ffmpeg` (and its test) compares with.
# GStreamer 1.22 for the gstreamer backend (ingest/sdk/gst, build tag
# gstreamer): headers at build time, the libraries dlopened when the backend
# starts (ingest/sdk/gst/gstload.h); rtspsrc and appsink, and the plugins
# rtspsrc loads; GStreamer's
# RTSP server, encoders and payloaders (through python3-gi) are the
# independent server of ingest's interop suite (TestInteropGStreamer).
APT_PACKAGES = libopus-dev libopusfile-dev libavcodec-dev libavutil-dev pkg-config gcc kcat chromium ffmpeg \
	libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-plugins-base \
	gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav \
	gir1.2-gst-rtsp-server-1.0 python3-gi
# GOTAGS selects optional backends; `make GOTAGS= build` builds without
# GStreamer (the gortsplib backend only).
GOTAGS      ?= gstreamer
BIN          = bin/earshot

.PHONY: all deps build test vet demo bench fuzz clean

all: build

# deps installs the Debian packages the build needs, only if missing.
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
		dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	$(GO) build -tags '$(GOTAGS)' -o $(BIN) ./cmd/earshot

# vet runs go vet and staticcheck (honnef.co/go/tools, pinned in go.mod as
# a tool dependency).
vet: deps
	$(GO) vet -tags '$(GOTAGS)' ./...
	$(GO) tool staticcheck -tags '$(GOTAGS)' ./...

test: vet
	$(GO) test -tags '$(GOTAGS)' -race -count=1 -timeout 20m ./...

# demo: synthetic cameras and an embedded Kafka broker, 10 s, WAVs in demo-out/.
demo: build
	./$(BIN) demo --duration 10s --out demo-out

bench: deps
	$(GO) test -tags '$(GOTAGS)' -run '^$$' -bench . -benchmem ./audio/... ./ingest/... ./sink ./loadtest

# fuzz runs each fuzz target briefly; FUZZTIME=5m for longer.
FUZZTIME ?= 30s
fuzz: deps
	@for pkg in ./audio ./audio/decoder ./sink ./ingest ./ingest/sdk; do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

clean:
	rm -rf bin demo-out
