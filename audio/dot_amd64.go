package audio

import "golang.org/x/sys/cpu"

// haveDotFolded reports whether dotsFoldedAVX2 can run: it needs AVX2 for
// VPERMPS and FMA for VFMADD231PS.
var haveDotFolded = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// dotsFoldedAVX2 is dotsFolded in assembly (dot_amd64.s), without its
// checks.
//
//go:noescape
func dotsFoldedAVX2(f, x []float32, taps, stride int, y []float32)
