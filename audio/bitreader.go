package audio

// bitReader reads most-significant-bit-first fields from a byte slice, as
// the MPEG-4 syntax (RFC 3640 AU headers, LATM) writes them.
type bitReader struct {
	buf []byte
	pos int // next bit to read
}

// left returns the number of unread bits.
func (r *bitReader) left() int { return 8*len(r.buf) - r.pos }

// read returns the next n <= 32 bits; ok is false, and nothing is consumed,
// when fewer remain.
func (r *bitReader) read(n int) (v uint32, ok bool) {
	if n > r.left() {
		return 0, false
	}
	for n > 0 {
		b := r.buf[r.pos/8]
		off := r.pos % 8
		take := min(8-off, n)
		v = v<<take | uint32(b>>(8-off-take))&(1<<take-1)
		r.pos += take
		n -= take
	}
	return v, true
}

// align skips to the next byte boundary.
func (r *bitReader) align() { r.pos = (r.pos + 7) &^ 7 }

// copyBits copies n bits of src starting at bit pos into dst, most
// significant bit first, zeroing the bits of dst's last byte past n. dst
// must hold (n+7)/8 bytes and src must hold pos+n bits.
func copyBits(dst, src []byte, pos, n int) {
	shift := pos % 8
	i := pos / 8
	nb := (n + 7) / 8
	for k := range nb {
		b := src[i+k] << shift
		if shift > 0 && i+k+1 < len(src) {
			b |= src[i+k+1] >> (8 - shift)
		}
		dst[k] = b
	}
	if rem := n % 8; rem != 0 {
		dst[nb-1] &= 0xFF << (8 - rem)
	}
}

// peek returns the next n <= 32 bits without consuming them.
func (r *bitReader) peek(n int) (v uint32, ok bool) {
	pos := r.pos
	v, ok = r.read(n)
	r.pos = pos
	return v, ok
}
