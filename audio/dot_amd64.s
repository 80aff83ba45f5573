#include "textflag.h"

// revidx reverses the eight lanes of a YMM register under VPERMPS.
DATA revidx<>+0(SB)/4, $7
DATA revidx<>+4(SB)/4, $6
DATA revidx<>+8(SB)/4, $5
DATA revidx<>+12(SB)/4, $4
DATA revidx<>+16(SB)/4, $3
DATA revidx<>+20(SB)/4, $2
DATA revidx<>+24(SB)/4, $1
DATA revidx<>+28(SB)/4, $0
GLOBL revidx<>(SB), RODATA|NOPTR, $32

// func dotsFoldedAVX2(f, x []float32, taps, stride int, y []float32)
//
// For each y[j], R8 points at the window x[j*stride:]; SI walks f and DI
// the window from the front, BX from the back 8 samples at a time
// (&window[taps-8-i]), reversed in the register by VPERMPS. Two
// accumulators alternate so that consecutive FMAs do not wait on each
// other. len(f) is a multiple of 8 and at most taps, so every read stays
// in the window.
TEXT ·dotsFoldedAVX2(SB), NOSPLIT, $0-88
	MOVQ f_base+0(FP), R13
	MOVQ f_len+8(FP), R14
	MOVQ x_base+24(FP), R8
	MOVQ taps+48(FP), R10
	SHLQ $2, R10
	SUBQ $32, R10
	MOVQ stride+56(FP), R9
	SHLQ $2, R9
	MOVQ y_base+64(FP), R11
	MOVQ y_len+72(FP), R12
	TESTQ R12, R12
	JZ done
	VMOVDQU revidx<>(SB), Y15

window:
	MOVQ R13, SI
	MOVQ R14, CX
	MOVQ R8, DI
	LEAQ (R8)(R10*1), BX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	CMPQ CX, $16
	JB tail

loop16:
	VPERMPS (BX), Y15, Y2
	VPERMPS -32(BX), Y15, Y3
	VADDPS (DI), Y2, Y2
	VADDPS 32(DI), Y3, Y3
	VFMADD231PS (SI), Y2, Y0
	VFMADD231PS 32(SI), Y3, Y1
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $64, BX
	SUBQ $16, CX
	CMPQ CX, $16
	JAE loop16

tail:
	TESTQ CX, CX
	JZ sum
	VPERMPS (BX), Y15, Y2
	VADDPS (DI), Y2, Y2
	VFMADD231PS (SI), Y2, Y0

sum:
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVHLPS X0, X0, X1
	VADDPS X1, X0, X0
	VMOVSHDUP X0, X1
	VADDSS X1, X0, X0
	VMOVSS X0, (R11)
	ADDQ $4, R11
	ADDQ R9, R8
	DECQ R12
	JNZ window

done:
	VZEROUPPER
	RET
