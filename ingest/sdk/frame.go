package sdk

import (
	"time"

	"github.com/earshot/earshot/audio"
)

// Codec describes the audio codec of an opened track, as announced by SDP.
// It is immutable and shared by every frame of the handle.
type Codec struct {
	// Name is the earshot codec name, one of audio.Codecs().
	Name string
	// PayloadType is the RTP payload type.
	PayloadType uint8
	// ClockRate is the RTP clock rate in Hz (48000 for Opus, 8000 for
	// G.722, 90000 for MP4A-LATM configured in-band).
	ClockRate int
	// SampleRate is the audio sample rate in Hz; 0 for MP4A-LATM
	// configured in-band.
	SampleRate int
	// Channels is the announced channel count.
	Channels int
	// FMTP holds the SDP format parameters, if any.
	FMTP map[string]string
	// AAC is the configuration of the AAC codecs, from FMTP.
	AAC audio.AACConfig
	// AMR is the configuration of AMR and AMR-WB, from FMTP.
	AMR audio.AMRConfig
}

// Format returns the audio.Format that decodes c.
func (c *Codec) Format() audio.Format {
	return audio.Format{Codec: c.Name, SampleRate: c.SampleRate, Channels: c.Channels, ClockRate: c.ClockRate, AAC: c.AAC, AMR: c.AMR}
}

// Why the SDK dropped frames (Frame.DropReason).
const (
	// DropCallbacksBehind: the handle's queue held Options.QueueDuration
	// of audio (or Options.QueueLen frames): its callbacks, or the worker
	// serving them, were that far behind.
	DropCallbacksBehind = "callbacks_behind"
	// DropQueueFrames: the queue reached its bound of 4096 frames while
	// holding less than QueueDuration of audio, as with packets far
	// shorter than usual or timestamps that do not advance.
	DropQueueFrames = "queue_frames"
)

// Frame is one RTP audio packet delivered to a DataCallback.
//
// A Frame and the bytes of Data belong to the SDK and are valid only until
// the callback returns: the SDK reuses the buffer for a later packet.
// A consumer that needs the bytes afterwards must copy them.
type Frame struct {
	// Data is the RTP payload.
	Data []byte
	// Timestamp is the RTP timestamp, in Codec.ClockRate units.
	Timestamp uint32
	// Seq is the RTP sequence number.
	Seq uint16
	// Marker is the RTP marker bit; AAC sets it on the last packet of an
	// access unit.
	Marker bool
	// SSRC is the RTP synchronization source.
	SSRC uint32
	// Dropped counts the frames the SDK dropped just before this one
	// because the handle's queue was full.
	Dropped uint64
	// DropReason says why the first of the Dropped frames was dropped:
	// DropCallbacksBehind or DropQueueFrames; "" when Dropped is 0.
	DropReason string
	// Arrival is when the SDK's reader received the packet.
	Arrival time.Time
	// NTP is the capture time derived from RTCP sender reports; it is zero
	// until the first sender report arrives.
	NTP time.Time
	// Codec describes the track.
	Codec *Codec
}
