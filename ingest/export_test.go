package ingest

// SetStepHook makes every stream worker call f at the start of each step,
// so tests can stall a worker. Call it before Run.
func SetStepHook(s *Supervisor, f func(stream string)) { s.stepHook = f }

// GStreamerStarted reports whether s has started GStreamer's backend.
func GStreamerStarted(s *Supervisor) bool { return s.gst.started() != nil }
