package audio

import "fmt"

// Depacketizer splits one track's RTP payloads into the codec's access
// units, for codecs whose payloads are not one frame each (AAC). It is
// owned by one stream worker.
type Depacketizer interface {
	// Depacketize returns the complete access units of payload, valid
	// until the next call; marker is the RTP marker bit.
	Depacketize(payload []byte, marker bool) ([][]byte, error)
	// Config returns the AudioSpecificConfig in force, or nil while none
	// is known.
	Config() []byte
	// Reset drops partly received access units.
	Reset()
}

// newAUDepacketizerFor returns the RFC 3640 depacketizer of an
// MPEG4-GENERIC format, after checking its AudioSpecificConfig.
func newAUDepacketizerFor(f Format) (Depacketizer, error) {
	asc := []byte(f.AAC.Config)
	if _, err := ParseAudioSpecificConfig(asc); err != nil {
		return nil, err
	}
	return newAUDepacketizer(f.AAC, asc)
}

// newLATMDepacketizerFor returns the RFC 6416 depacketizer of an
// MP4A-LATM format, configured in-band when f.AAC.Config is empty.
func newLATMDepacketizerFor(f Format) (Depacketizer, error) {
	p, err := newLATMDepacketizer([]byte(f.AAC.Config))
	if err != nil {
		return nil, fmt.Errorf("config %x: %w", f.AAC.Config, err)
	}
	return p, nil
}
