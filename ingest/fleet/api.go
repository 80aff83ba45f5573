package fleet

import (
	"net/http"

	"github.com/earshot/earshot/ingest"
)

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
		reg := m.registryFor(w)
		if reg == nil {
			return
		}
		id := r.PathValue("id")
		if err := ingest.ValidateID(id); err != nil {
			ingest.WriteJSON(w, http.StatusBadRequest, apiError{err.Error()})
			return
		}
		if err := reg.Delete(r.Context(), id); err != nil {
			ingest.WriteJSON(w, http.StatusServiceUnavailable, apiError{err.Error()})
			return
		}
		ingest.WriteJSON(w, http.StatusAccepted, map[string]any{"id": id, "partition": reg.PartitionOf(id)})
	})
	mux.HandleFunc("GET /api/fleet", func(w http.ResponseWriter, r *http.Request) {
		reg := m.registryFor(w)
		if reg == nil {
			return
		}
		sts, err := reg.Instances(r.Context())
		if err != nil {
			ingest.WriteJSON(w, http.StatusServiceUnavailable, apiError{err.Error()})
			return
		}
		ingest.WriteJSON(w, http.StatusOK, APIFleet{Group: m.cfg.Group, Partitions: reg.Partitions(), Instances: sts, Self: m.Stats()})
	})
	if local != nil {
		mux.Handle("/api/", local)
	}
	return mux
}

type apiError struct {
	Error string `json:"error"`
}

// registryFor returns the member's registry, or answers 503 and returns
// nil before Run has opened it.
func (m *Member) registryFor(w http.ResponseWriter) *Registry {
	reg := m.Registry()
	if reg == nil {
		ingest.WriteJSON(w, http.StatusServiceUnavailable, apiError{"fleet registry not open yet"})
	}
	return reg
}

func (m *Member) listHandler(w http.ResponseWriter, r *http.Request) {
	reg := m.registryFor(w)
	if reg == nil {
		return
	}
	entries, _, err := reg.List(r.Context())
	if err != nil {
		ingest.WriteJSON(w, http.StatusServiceUnavailable, apiError{err.Error()})
		return
	}
	sts, err := reg.Instances(r.Context())
	if err != nil {
		ingest.WriteJSON(w, http.StatusServiceUnavailable, apiError{err.Error()})
		return
	}
	owners := Owners(sts)
	out := make([]APIStream, len(entries))
	for i, e := range entries {
		out[i] = APIStream{ID: e.Stream.ID, URL: e.Stream.URL, Transport: e.Stream.Transport, Partition: e.Partition, Owner: owners[e.Partition]}
	}
	ingest.WriteJSON(w, http.StatusOK, out)
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

func (m *Member) putHandler(w http.ResponseWriter, r *http.Request) {
	reg := m.registryFor(w)
	if reg == nil {
		return
	}
	sc, ok := ingest.ReadStreamBody(w, r)
	if !ok {
		return
	}
	if _, err := encodeStream(sc); err != nil {
		ingest.WriteJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	if err := reg.Put(r.Context(), sc); err != nil {
		ingest.WriteJSON(w, http.StatusServiceUnavailable, apiError{err.Error()})
		return
	}
	ingest.WriteJSON(w, http.StatusAccepted, map[string]any{"id": sc.ID, "partition": reg.PartitionOf(sc.ID)})
}
