package ingest

import (
	"encoding/json"
	"errors"
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
//	DELETE /api/streams/{id}   remove a stream (its end record says "removed")
//	GET    /api/stalls         stalls detected, by stage and reason
//
// Responses are JSON; errors are {"error": "…"}. URLs and errors never
// carry credentials. Streams added here last until the process stops or
// the configuration is reloaded, which makes the file's list current.
func (s *Supervisor) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/streams", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
	mux.HandleFunc("GET /api/streams/{id}", func(w http.ResponseWriter, r *http.Request) {
		st, err := s.StreamStats(r.PathValue("id"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("POST /api/streams", s.addHandler)
	mux.HandleFunc("DELETE /api/streams/{id}", func(w http.ResponseWriter, r *http.Request) {
		if err := s.Remove(r.PathValue("id")); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /api/stalls", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Stalls())
	})
	return mux
}

// apiStream is the body of POST /api/streams.
type apiStream struct {
	ID                 string `json:"id"`
	URL                string `json:"url"`
	Transport          string `json:"transport"`
	FollowRedirects    string `json:"follow_redirects"`
	CAFile             string `json:"ca_file"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify"`
}

func (s *Supervisor) addHandler(w http.ResponseWriter, r *http.Request) {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxAPIBody))
	dec.DisallowUnknownFields()
	var body apiStream
	if err := dec.Decode(&body); err != nil {
		// The decoder's message may quote the body, URL included: keep
		// only its kind.
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body is not a stream object: {\"id\", \"url\", \"transport\"}"})
		return
	}
	if err := s.Add(StreamConfig(body)); err != nil {
		writeError(w, err)
		return
	}
	st, err := s.StreamStats(body.ID)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, st)
}

// writeError maps err to a status. Every error here comes from Add,
// Remove or StreamStats, whose messages redact URLs.
func writeError(w http.ResponseWriter, err error) {
	code := http.StatusBadRequest
	switch {
	case errors.Is(err, ErrUnknownStream):
		code = http.StatusNotFound
	case errors.Is(err, ErrStreamExists):
		code = http.StatusConflict
	case errors.Is(err, ErrStopped):
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
