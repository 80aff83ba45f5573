package ingest

import "time"

// slowCallback makes a deliberately regressed build, for checking that the
// gray-release comparison of `earshot loadtest --baseline … --canary …`
// catches a slow SDK callback. It is set only at link time, never in a
// build meant to run:
//
//	go build -ldflags "-X github.com/earshot/earshot/ingest.slowCallback=15ms" -o earshot-slow ./cmd/earshot
//
// Every SDK data callback of such a build sleeps that long before handing
// its frame over. Normal builds leave it empty and pay one branch per
// frame.
var slowCallback string

// callbackDelay parses slowCallback; 0 when unset or invalid.
func callbackDelay() time.Duration {
	d, err := time.ParseDuration(slowCallback)
	if err != nil || d < 0 {
		return 0
	}
	return d
}
