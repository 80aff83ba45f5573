package harness

import "github.com/twmb/franz-go/pkg/kfake"

// seedTopics returns the broker options that create topics besides the
// first.
func seedTopics(partitions int, topics []string) []kfake.Opt {
	if len(topics) == 0 {
		return nil
	}
	return []kfake.Opt{kfake.SeedTopics(int32(partitions), topics...)}
}
