package consumer

// TapFile summarizes one WAV file written by Tap.WriteWAVs: one stream and
// epoch.
type TapFile struct {
	// Path is the file written.
	Path string
	// Stream and Epoch identify the audio.
	Stream string
	Epoch  uint64
	// Records counts the distinct records (by Seq) of the stream and epoch;
	// AudioRecords those carrying PCM. Duplicates counts records seen again
	// with a Seq already seen (Kafka delivers at least once).
	Records      int
	AudioRecords int
	Duplicates   int
	// Seconds is the length of the file.
	Seconds float64
	// Gaps counts gap records and GapMS sums their length.
	Gaps  int
	GapMS int64
	// Ended says an end record was seen.
	Ended bool
}
