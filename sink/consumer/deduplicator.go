package consumer

// Deduplicator drops records seen before. earshot's writer delivers the
// records of a stream in (epoch, seq) order and only ever sends one again
// after it, so a record that is not later than the last one kept of its
// stream is a redelivery. It keeps one key per stream. The zero value is
// ready to use; it is not safe for concurrent use.
type Deduplicator struct {
	last map[string]Key
	// Duplicates counts the records Fresh rejected.
	Duplicates uint64
}

// Fresh reports whether k is later than every record kept of its stream,
// and keeps it if so.
func (d *Deduplicator) Fresh(k Key) bool {
	if d.last == nil {
		d.last = make(map[string]Key)
	}
	if last, ok := d.last[k.Stream]; ok && !last.Less(k) {
		d.Duplicates++
		return false
	}
	d.last[k.Stream] = k
	return true
}
