package audio

import "fmt"

// SDPError is Identify's refusal of an announced format.
type SDPError struct {
	// SDP is the announcement as given.
	SDP SDP
	// Reason says what in it earshot cannot decode.
	Reason error
}

func (e *SDPError) Error() string {
	return fmt.Sprintf("%s: %s: %s", ErrUnsupportedCodec, e.SDP, e.Reason)
}

// Unwrap lets errors.Is match ErrUnsupportedCodec and the reason's
// sentinels.
func (e *SDPError) Unwrap() []error { return []error{ErrUnsupportedCodec, e.Reason} }
