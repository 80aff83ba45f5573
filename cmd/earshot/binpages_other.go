//go:build !linux

package main

import "errors"

// errTrimUnsupported: the platform has no way to give back the
// executable's pages.
var errTrimUnsupported = errors.New("trimming the executable's pages is supported on Linux only")

func trimBinaryPages() (binTrim, error) { return binTrim{}, errTrimUnsupported }
