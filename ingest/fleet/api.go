package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/earshot/earshot/ingest"
)

// maxAPIBody bounds a request body of the fleet API.
const maxAPIBody = 64 << 10

// APIStream is one stream of the fleet in GET /api/streams.
type APIStream struct {
	ID        string `json:"id"`
	URL       string `json:"url"`
	Transport string `json:"transport,omitempty"`
	Partition int32  `json:"partition"`
	// Owner is the instance whose last status lists the partition, "" if
	// none does yet.
	Owner string `json:"owner"`
}

// APIFleet is the body of GET /api/fleet.
type APIFleet struct {
	Group      string   `json:"group"`
	Partitions int      `json:"partitions"`
	Instances  []Status `json:"instances"`
	Self       Stats    `json:"self"`
}

// Handler returns the fleet's stream API, to be mounted at /api/ on every
// instance:
//
//	GET    /api/streams        every stream of the fleet with its owner
//	POST   /api/streams        write a stream to the registry: 202, its owner starts it
//	DELETE /api/streams/{id}   write its tombstone: 202, its owner stops it
//	GET    /api/fleet          instances (from the status topic), partitions, stream counts
//
// Every other path (GET /api/streams/{id} of a stream this instance runs,
// /api/stalls) goes to local, this instance's supervisor API. Errors are
// {"error": "…"}; URLs in the registry hold no credentials.
func (m *Member) Handler(local http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/streams", m.listHandler)
	mux.HandleFunc("POST /api/streams", m.putHandler)
	mux.HandleFunc("DELETE /api/streams/{id}", func(w http.ResponseWriter, r *http.Request) {
		reg := m.Registry()
		if reg == nil {
			writeJSON(w, http.StatusServiceUnavailable, apiError{"fleet registry not open yet"})
			return
		}
		id := r.PathValue("id")
		if err := reg.Delete(r.Context(), id); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, apiError{err.Error()})
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]any{"id": id, "partition": reg.PartitionOf(id)})
	})
	mux.HandleFunc("GET /api/fleet", func(w http.ResponseWriter, r *http.Request) {
		reg := m.Registry()
		if reg == nil {
			writeJSON(w, http.StatusServiceUnavailable, apiError{"fleet registry not open yet"})
			return
		}
		sts, err := reg.Instances(r.Context())
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, apiError{err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, APIFleet{Group: m.cfg.Group, Partitions: reg.Partitions(), Instances: sts, Self: m.Stats()})
	})
	if local != nil {
		mux.Handle("/api/", local)
	}
	return mux
}

type apiError struct {
	Error string `json:"error"`
}

func (m *Member) listHandler(w http.ResponseWriter, r *http.Request) {
	reg := m.Registry()
	if reg == nil {
		writeJSON(w, http.StatusServiceUnavailable, apiError{"fleet registry not open yet"})
		return
	}
	entries, _, err := reg.List(r.Context())
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, apiError{err.Error()})
		return
	}
	sts, err := reg.Instances(r.Context())
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, apiError{err.Error()})
		return
	}
	owners := Owners(sts)
	out := make([]APIStream, len(entries))
	for i, e := range entries {
		out[i] = APIStream{ID: e.Stream.ID, URL: e.Stream.URL, Transport: e.Stream.Transport, Partition: e.Partition, Owner: owners[e.Partition]}
	}
	writeJSON(w, http.StatusOK, out)
}

// Owners maps each partition to the instance whose most recent status
// lists it.
func Owners(sts []Status) map[int32]string {
	owners := make(map[int32]string)
	newest := make(map[int32]int64)
	for _, st := range sts {
		t := st.Time.UnixNano()
		for _, p := range st.Partitions {
			if t > newest[p] {
				owners[p], newest[p] = st.Instance, t
			}
		}
	}
	return owners
}

// apiPut is the body of POST /api/streams, as the supervisor's API takes
// it.
type apiPut struct {
	ID                 string `json:"id"`
	URL                string `json:"url"`
	Transport          string `json:"transport"`
	CAFile             string `json:"ca_file"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify"`
}

func (m *Member) putHandler(w http.ResponseWriter, r *http.Request) {
	reg := m.Registry()
	if reg == nil {
		writeJSON(w, http.StatusServiceUnavailable, apiError{"fleet registry not open yet"})
		return
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAPIBody))
	dec.DisallowUnknownFields()
	var body apiPut
	if err := dec.Decode(&body); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeJSON(w, http.StatusRequestEntityTooLarge, apiError{fmt.Sprintf("body exceeds %d bytes", maxAPIBody)})
			return
		}
		// The decoder's message may quote the body, URL included.
		writeJSON(w, http.StatusBadRequest, apiError{`body is not a stream object: {"id", "url", "transport"}`})
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		writeJSON(w, http.StatusBadRequest, apiError{"body holds data after the stream object"})
		return
	}
	sc := ingest.StreamConfig(body)
	if _, err := encodeStream(sc); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	if err := reg.Put(r.Context(), sc); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, apiError{err.Error()})
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"id": sc.ID, "partition": reg.PartitionOf(sc.ID)})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
