//go:build !amd64

package audio

// haveDotFolded is false: dotsFoldedAVX2 exists only on amd64.
const haveDotFolded = false

func dotsFoldedAVX2(f, x []float32, taps, stride int, y []float32) {
	panic("audio: dotsFoldedAVX2 called without AVX2")
}
