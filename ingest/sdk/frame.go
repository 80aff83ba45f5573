package sdk

import "time"

// Codec describes the audio codec of an opened track, as announced by SDP.
// It is immutable and shared by every frame of the handle.
type Codec struct {
	// Name is the earshot codec name ("opus", "pcma", "pcmu", "l16").
	Name string
	// PayloadType is the RTP payload type.
	PayloadType uint8
	// ClockRate is the RTP clock rate in Hz (48000 for Opus).
	ClockRate int
	// SampleRate is the audio sample rate in Hz.
	SampleRate int
	// Channels is the announced channel count.
	Channels int
	// FMTP holds the SDP format parameters, if any.
	FMTP map[string]string
}

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
	// SSRC is the RTP synchronization source.
	SSRC uint32
	// Marker is the RTP marker bit.
	Marker bool
	// Dropped counts the frames the SDK dropped just before this one
	// because the handle's queue was full: the callbacks were behind.
	Dropped uint64
	// Arrival is when the SDK's reader received the packet.
	Arrival time.Time
	// NTP is the capture time derived from RTCP sender reports; it is zero
	// until the first sender report arrives.
	NTP time.Time
	// Codec describes the track.
	Codec *Codec
}
