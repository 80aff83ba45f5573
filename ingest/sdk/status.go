package sdk

import (
	"fmt"
	"time"
)

// StatusKind tells what a Status reports.
type StatusKind int

// Status kinds.
const (
	// StatusConnected: the handle is playing and frames will follow.
	StatusConnected StatusKind = iota + 1
	// StatusDisconnected: the connection ended; Err says why. No more frames
	// follow and the handle should be closed.
	StatusDisconnected
	// StatusCallbackOverrun: data callbacks exceeded Options.CallbackBudget
	// Overruns times since the previous report, the slowest taking Duration.
	StatusCallbackOverrun
)

func (k StatusKind) String() string {
	switch k {
	case StatusConnected:
		return "connected"
	case StatusDisconnected:
		return "disconnected"
	case StatusCallbackOverrun:
		return "callback_overrun"
	}
	return fmt.Sprintf("StatusKind(%d)", int(k))
}

// Status is a change of a handle's state, delivered to a StatusCallback.
type Status struct {
	Kind StatusKind
	// Err is the reason of a disconnection; credentials are redacted from it.
	Err error
	// Overruns counts callbacks over budget (StatusCallbackOverrun only).
	Overruns uint64
	// Duration is the slowest of those callbacks (StatusCallbackOverrun only).
	Duration time.Duration
}
