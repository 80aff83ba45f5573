package audio

import "time"

// Chunk is a run of consecutive mono samples cut by a Chunker.
type Chunk struct {
	// Offset is the sample offset of Samples[0] since the epoch began, so
	// that a consumer can place the chunk, and any gap before it, exactly.
	Offset int64
	// CaptureTime is the capture time of Samples[0].
	CaptureTime time.Time
	// Samples is valid only during the emit callback; it aliases the
	// Chunker's buffer.
	Samples []int16
}
