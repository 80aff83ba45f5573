package main

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/earshot/earshot/sink"
)

// The exit status and the last log line of `earshot run` say what happened
// to the records: everything delivered (0), some left in the spool (3), or
// some lost, with or without sink_drop gaps (1).
func TestExitStatusSaysWhatWasLost(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		code int
		line string
	}{
		{"everything delivered", nil, exitDelivered, "everything delivered"},
		{"records left in the spool", &sink.UndeliveredError{Spooled: 3, Dir: "/spool"}, exitSpooled, "left in the spool"},
		{"records dropped with gaps", &sink.UndeliveredError{Dropped: 489}, exitFailed, "records were lost"},
		{"records dropped and others spooled", &sink.UndeliveredError{Dropped: 2, Spooled: 3}, exitFailed, "records were lost"},
		{"records lost without a gap", &sink.UndeliveredError{Lost: 1}, exitFailed, "records were lost"},
		{"another failure", errors.New("boom"), exitFailed, "stopped with an error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log bytes.Buffer
			code := exitStatus(tc.err, slog.New(slog.NewTextHandler(&log, nil)))
			lines := strings.Split(strings.TrimSpace(log.String()), "\n")
			if code != tc.code || !strings.Contains(lines[len(lines)-1], tc.line) {
				t.Errorf("exit %d, last line %q; want %d and %q", code, lines[len(lines)-1], tc.code, tc.line)
			}
		})
	}
}
