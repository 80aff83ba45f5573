package fleet

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

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

// APIStreamDetail is the body of GET /api/streams/{id} in fleet mode.
// For a stream this instance runs, Local is true and the stats are this
// instance's; for one another instance runs, the stats hold its registry
// entry (id, url, transport) with state "unknown": its owner's API, at
// OwnerURL, has the rest.
type APIStreamDetail struct {
	ingest.StreamStats
	Partition int32  `json:"partition"`
	Owner     string `json:"owner"`
	OwnerURL  string `json:"owner_url,omitempty"` // the owner's fleet.advertise
	Local     bool   `json:"local"`
}

// StatsFunc returns the stats of a stream this instance runs: the
// supervisor's StreamStats.
type StatsFunc func(id string) (ingest.StreamStats, error)

// viewWait bounds how long a request waits for the fleet view to load.
const viewWait = 10 * time.Second

// Handler returns the fleet's stream API, to be mounted at /api/ on every
// instance:
//
//	GET    /api/streams        every stream of the fleet with its owner
//	GET    /api/streams/{id}   one stream of the fleet with its owner (APIStreamDetail)
//	POST   /api/streams        write a stream to the registry: 202, its owner starts it
//	DELETE /api/streams/{id}   write its tombstone: 202, its owner stops it
//	GET    /api/fleet          instances (from the status topic), partitions, stream counts
//
// The GETs read the member's View, not the topics. Every other path
// (/api/streams/{id}/events, /api/stalls) goes to local, this instance's
// supervisor API; so does GET /api/streams/{id} when stats is nil. Errors
// are {"error": "…"}; URLs in the registry hold no credentials.
func (m *Member) Handler(local http.Handler, stats StatsFunc) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/streams", m.listHandler)
	if stats != nil {
		mux.HandleFunc("GET /api/streams/{id}", func(w http.ResponseWriter, r *http.Request) { m.streamHandler(w, r, stats) })
	}
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
		reg := m.viewFor(w, r)
		if reg == nil {
			return
		}
		ingest.WriteJSON(w, http.StatusOK, APIFleet{Group: m.cfg.Group, Partitions: reg.Partitions(), Instances: m.view.Instances(), Self: m.Stats()})
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

// viewFor returns the member's registry once its view has loaded, or
// answers 503 and returns nil.
func (m *Member) viewFor(w http.ResponseWriter, r *http.Request) *Registry {
	reg := m.registryFor(w)
	if reg == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), viewWait)
	defer cancel()
	if err := m.view.Wait(ctx); err != nil {
		ingest.WriteJSON(w, http.StatusServiceUnavailable, apiError{err.Error()})
		return nil
	}
	return reg
}

func (m *Member) listHandler(w http.ResponseWriter, r *http.Request) {
	if m.viewFor(w, r) == nil {
		return
	}
	ingest.WriteJSON(w, http.StatusOK, m.view.Streams())
}

// streamHandler answers GET /api/streams/{id} for any stream of the fleet.
func (m *Member) streamHandler(w http.ResponseWriter, r *http.Request, stats StatsFunc) {
	reg := m.viewFor(w, r)
	if reg == nil {
		return
	}
	id := r.PathValue("id")
	e, owner, known := m.view.Stream(id)
	if m.Running(id) {
		st, err := stats(id)
		if err == nil {
			ingest.WriteJSON(w, http.StatusOK, APIStreamDetail{StreamStats: st, Partition: reg.PartitionOf(id), Owner: m.cfg.InstanceID, OwnerURL: m.cfg.Advertise, Local: true})
			return
		}
		if !errors.Is(err, ingest.ErrUnknownStream) {
			ingest.WriteJSON(w, http.StatusInternalServerError, apiError{err.Error()})
			return
		}
	}
	if !known {
		ingest.WriteJSON(w, http.StatusNotFound, apiError{"unknown stream: " + strconv.Quote(id)})
		return
	}
	ingest.WriteJSON(w, http.StatusOK, APIStreamDetail{
		StreamStats: ingest.StreamStats{ID: e.ID, URL: e.URL, Transport: e.Transport, State: StateUnknown},
		Partition:   e.Partition, Owner: e.Owner, OwnerURL: owner.Advertise,
	})
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
