package main

import (
	"context"
	"log/slog"
	"time"
)

// defaultTrimBinaryAfter is memory.trim_binary_after's default: long
// enough for the configured streams to be playing, so that the pages their
// hot path touches come back at once, and short against a run of hours.
const defaultTrimBinaryAfter = 10 * time.Second

// binTrim is what one trim of the executable's read-only mappings did.
type binTrim struct {
	Mappings int   // read-only mappings of the executable advised
	Before   int64 // their resident bytes before
	After    int64 // their resident bytes right after
}

// trimBinaryAfter waits d (or until ctx is done), then trims the
// executable's resident pages once and logs what it did. It runs on its
// own goroutine, owned by service.Run.
//
// Why: on Linux the kernel maps a file's pages around each one faulted in
// (fault-around; on 6.18, whole large page-cache folios), so a Go binary
// of ~35 MB had 18–25 MiB of its text and read-only data resident, of which
// the streams' hot path uses ~7 MiB (docs/performance.md, part 11).
func trimBinaryAfter(ctx context.Context, d time.Duration, log *slog.Logger) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	tr, err := trimBinaryPages()
	if err != nil {
		log.Warn("executable's pages not trimmed", "err", err)
		return
	}
	log.Info("executable's pages trimmed", "mappings", tr.Mappings,
		"resident_before_kib", tr.Before>>10, "resident_after_kib", tr.After>>10)
}
