package harness

import (
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/audio/decoder"
	"github.com/earshot/earshot/loadtest"
)

// Bounds of the decode-only measurement: each codec's clip is decoded for
// decodeOnlyAudio of audio, decodeOnlyRounds times, and the cheapest round
// counts (the least disturbed by the rest of the machine).
const (
	decodeOnlyAudio  = 30 * time.Second
	decodeOnlyRounds = 3
)

// decodeOnlyCPU returns what decoding the cameras' audio to 16 kHz costs
// alone, in cores per stream: the mean over streams of their codec's cost,
// measured in this process on one locked thread by its CPU time, decoding
// the clip the cameras send (loadtest.Clip) with earshot's decoder
// (libopus, libavcodec, or G.711 and the resampler). It is the floor under
// a consumer's cost: the "cost ÷ decode-only" compares with it.
func decodeOnlyCPU(streams []plannedStream) (float64, error) {
	perCodec := make(map[string]float64)
	var sum float64
	for _, s := range streams {
		cost, ok := perCodec[s.Codec]
		if !ok {
			var err error
			if cost, err = decodeCost(s.Codec); err != nil {
				return 0, err
			}
			perCodec[s.Codec] = cost
		}
		sum += cost
	}
	if len(streams) == 0 {
		return 0, nil
	}
	return sum / float64(len(streams)), nil
}

// decodeCost returns the CPU, in cores, of decoding codec's camera audio
// to 16 kHz in real time.
func decodeCost(codec string) (float64, error) {
	const packet = 20 * time.Millisecond
	sdp, payloads, err := loadtest.Clip(codec, packet)
	if err != nil {
		return 0, fmt.Errorf("decode-only %s: %w", codec, err)
	}
	f, err := audio.Identify(sdp)
	if err != nil {
		return 0, fmt.Errorf("decode-only %s: %w", codec, err)
	}
	dec, err := decoder.New(f, 16000)
	if err != nil {
		return 0, fmt.Errorf("decode-only %s: %w", codec, err)
	}
	defer dec.Close()
	rounds := int(decodeOnlyAudio / packet)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	best := -1.0
	for range decodeOnlyRounds {
		start, err := threadCPU()
		if err != nil {
			return 0, fmt.Errorf("decode-only %s: %w", codec, err)
		}
		for r := range rounds {
			if p := payloads[r%len(payloads)]; p != nil {
				if _, err := dec.Decode(p, true); err != nil {
					return 0, fmt.Errorf("decode-only %s: packet %d: %w", codec, r, err)
				}
			}
		}
		end, err := threadCPU()
		if err != nil {
			return 0, fmt.Errorf("decode-only %s: %w", codec, err)
		}
		if c := (end - start).Seconds() / decodeOnlyAudio.Seconds(); best < 0 || c < best {
			best = c
		}
	}
	return best, nil
}

// threadCPU returns the CPU time the calling thread has used.
func threadCPU() (time.Duration, error) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
