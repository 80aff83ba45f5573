// Package avload holds what the cgo packages that call libavcodec share to
// load it at run time rather than link it: the C header avload.h (a table
// of function pointers filled by dlopen and dlsym, and macros so that C
// code keeps the libav names) and Once, which loads a package's table on
// its first libav decoder or encoder. A process that decodes only G.711,
// L16 or Opus never maps libavcodec and the ~90 libraries it depends on,
// whose relocated data would otherwise cost each process about 10 MiB of
// private memory (issue 14).
//
// A package using it imports it (so that a change to avload.h rebuilds the
// package) and includes the header:
//
//	#cgo CFLAGS: -I${SRCDIR}/../../audio/avload
//	#include "avload.h"
package avload

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
)

// ErrUnavailable is wrapped by the error of a libav decoder or encoder
// constructed where libavcodec or libavutil could not be loaded.
var ErrUnavailable = errors.New("libavcodec could not be loaded")

// Once loads one package's table the first time Do is called and keeps the
// verdict. The zero value is ready to use.
type Once struct {
	once sync.Once
	err  error
}

// Do calls load once, with a buffer for the reason of a failure, and
// returns nil if load reported success, else an error wrapping
// ErrUnavailable with the reason, on that call and every later one. load
// is the package's cgo call of avl_load; it reports success.
func (o *Once) Do(load func(reason []byte) bool) error {
	o.once.Do(func() {
		reason := make([]byte, 512)
		if !load(reason) {
			if i := bytes.IndexByte(reason, 0); i >= 0 {
				reason = reason[:i]
			}
			o.err = fmt.Errorf("%w: %s", ErrUnavailable, reason)
		}
	})
	return o.err
}
