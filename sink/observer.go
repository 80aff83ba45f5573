package sink

import "time"

// Observer receives the Writer's delivery events, for metrics. The Writer's
// goroutine (the one that produces) calls its methods, one at a time: they
// must be cheap, must not block and must not call the Writer.
type Observer interface {
	// Produced is called after every produce attempt with its duration,
	// the number of records it carried, and its error: nil when Kafka
	// acknowledged all of them.
	Produced(d time.Duration, records int, err error)
	// Acknowledged is called with the Arrival of every record Kafka
	// acknowledged in one attempt (zero for records without one, such as
	// control records). The slice is reused after the call returns.
	Acknowledged(arrivals []time.Time)
	// Dropped is called when a full spool dropped records of a stream.
	Dropped(d Drop)
}
