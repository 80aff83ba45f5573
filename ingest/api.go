package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// maxAPIBody bounds a request body of the stream API.
const maxAPIBody = 64 << 10

// Handler returns the stream API, to be mounted at /api/:
//
//	GET    /api/streams        every stream's state, last error and counters
//	GET    /api/streams/{id}   one stream
//	POST   /api/streams        add a stream: {"id": …, "url": …, "transport": …}
//	DELETE /api/streams/{id}   remove a stream (its end record says "removed"):
//	                           204 once the end record is written, 202 when
//	                           the worker is still ending after RemoveTimeout
//	GET    /api/streams/{id}/events  its gaps and stalls of the last hour
//	GET    /api/stalls         stalls detected, by stage and reason
//	POST   /api/diagnostics/trace  run the flight recorder for trace_arm_for (202), 409 when it is off
//
// Responses are JSON; errors are {"error": "…"}. URLs and errors never
// carry credentials. A POST body is one JSON object of at most 64 KiB
// (413 beyond), with nothing after it (400); a stream beyond MaxStreams is
// refused with 409 and the limit. Streams added here last until the process stops or
// the configuration is reloaded, which makes the file's list current.
func (s *Supervisor) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/streams", func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, s.Stats())
	})
	mux.HandleFunc("GET /api/streams/{id}", byID(s.StreamStats))
	mux.HandleFunc("GET /api/streams/{id}/events", byID(s.Events))
	mux.HandleFunc("POST /api/streams", s.addHandler)
	mux.HandleFunc("DELETE /api/streams/{id}", func(w http.ResponseWriter, r *http.Request) {
		err := s.Remove(r.Context(), r.PathValue("id"))
		switch {
		case errors.Is(err, ErrStillEnding):
			// Removed: it is no longer listed, and cannot be removed again.
			WriteJSON(w, http.StatusAccepted, map[string]string{"error": err.Error()})
		case err != nil:
			writeError(w, err)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	mux.HandleFunc("GET /api/stalls", func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, s.Stalls())
	})
	mux.HandleFunc("POST /api/diagnostics/trace", func(w http.ResponseWriter, _ *http.Request) {
		if err := s.ArmTrace(); err != nil {
			WriteJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
			return
		}
		WriteJSON(w, http.StatusAccepted, map[string]string{"armed_for": s.cfg.Diagnostics.TraceArmFor.String()})
	})
	return mux
}

// byID serves what get returns for the request's stream id.
func byID[T any](get func(id string) (T, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := get(r.PathValue("id"))
		if err != nil {
			writeError(w, err)
			return
		}
		WriteJSON(w, http.StatusOK, v)
	}
}

// apiStream is the body of POST /api/streams.
type apiStream struct {
	ID                 string `json:"id"`
	URL                string `json:"url"`
	Transport          string `json:"transport"`
	FollowRedirects    string `json:"follow_redirects"`
	CAFile             string `json:"ca_file"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify"`
	Backend            string `json:"backend"`
}

func (s *Supervisor) addHandler(w http.ResponseWriter, r *http.Request) {
	body, ok := ReadStreamBody(w, r)
	if !ok {
		return
	}
	if err := s.Add(r.Context(), body); err != nil {
		writeError(w, err)
		return
	}
	st, err := s.StreamStats(body.ID)
	if err != nil {
		writeError(w, err)
		return
	}
	WriteJSON(w, http.StatusCreated, st)
}

// ReadStreamBody decodes the stream object of a POST /api/streams body
// (of this API and the fleet's). On a bad body it answers the request
// itself and returns false; its answers never quote the body, which may
// hold a URL with credentials.
func ReadStreamBody(w http.ResponseWriter, r *http.Request) (StreamConfig, bool) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAPIBody))
	dec.DisallowUnknownFields()
	var body apiStream
	if err := dec.Decode(&body); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			WriteJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("body exceeds %d bytes", maxAPIBody)})
			return StreamConfig{}, false
		}
		// The decoder's message may quote the body, URL included: keep
		// only its kind.
		WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "body is not a stream object: {\"id\", \"url\", \"transport\"}"})
		return StreamConfig{}, false
	}
	if _, err := dec.Token(); err != io.EOF {
		WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "body holds data after the stream object"})
		return StreamConfig{}, false
	}
	return StreamConfig(body), true
}

// writeError maps err to a status. Every error here comes from Add,
// Remove or StreamStats, whose messages redact URLs.
func writeError(w http.ResponseWriter, err error) {
	code := http.StatusBadRequest
	switch {
	case errors.Is(err, ErrUnknownStream):
		code = http.StatusNotFound
	case errors.Is(err, ErrStreamExists), errors.Is(err, ErrTooManyStreams):
		code = http.StatusConflict
	case errors.Is(err, ErrStopped), errors.Is(err, context.DeadlineExceeded):
		code = http.StatusServiceUnavailable
	}
	WriteJSON(w, code, map[string]string{"error": err.Error()})
}

// WriteJSON answers with code and v as compact JSON, as every earshot
// API does: the load-test harness and the console poll the stream list
// every second, and indenting it for 100 streams was ~5% of what earshot
// allocated (`jq` indents for a reader).
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
