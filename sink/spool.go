package sink

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/earshot/earshot/sink/schema"
)

// ErrSpoolLocked is returned when another process uses the spool directory.
var ErrSpoolLocked = errors.New("spool directory is in use by another process")

const (
	spoolLockName = "LOCK"
	// spoolAckName is the file holding how far the oldest segment is
	// acknowledged, so that a restart does not deliver it again.
	spoolAckName  = "ACK"
	ackLineFormat = "%016x %020d\n"
	segmentSuffix = ".seg"
	// firstSegmentID leaves room below for segments prepended at the head.
	firstSegmentID = 1 << 62
)

// spool is a FIFO of records on disk, in segment files named by increasing
// id. Records are appended at the tail; the writer's goroutine peeks at the
// oldest ones (they are then pinned: in flight) and acknowledges them once
// Kafka has them, which deletes fully acknowledged segments. Records that
// must go before everything spooled (memory evacuated on a failure or at
// close) are written as a new segment with a lower id. When a record does
// not fit in MaxBytes, the oldest unpinned records are dropped and replaced
// by sink_drop gap records (see makeRoom). Methods are safe for concurrent
// use.
type spool struct {
	cfg  SpoolConfig
	log  *slog.Logger
	lock *os.File // holds the directory's flock
	acks *os.File // spoolAckName

	mu      sync.Mutex
	segs    []*segment // oldest first
	records int        // records not yet acknowledged
	bytes   int64      // bytes of their frames
	pinned  []int64    // frame sizes of the records peeked and not acknowledged, oldest first
	nextID  uint64     // id of the next tail segment
	buf     []byte     // frame being appended
	closed  bool
	// syncTimer flushes dirty segments under FsyncInterval, outside mu;
	// nil when no flush is scheduled.
	syncTimer *time.Timer
	unsynced  []*os.File // sealed segments to flush and close (FsyncInterval)
	dirDirty  bool       // files were created or deleted since the last flush

	// Counters, read by the Writer under mu.
	dropped      uint64 // records dropped from a full spool
	dropGaps     uint64 // sink_drop gap records written
	corruptTails uint64 // segments truncated at a corrupt frame
	drops        []Drop // not yet reported to the observer
}

// segment is one segment file.
type segment struct {
	id       uint64
	path     string
	size     int64    // bytes in the file, header included
	records  int      // frames in the file
	acked    int      // frames acknowledged, from the start
	ackedOff int64    // offset after the acknowledged frames
	w        *os.File // open for appending: the tail; nil once sealed
	r        *os.File // open for reading, lazily
	dirty    bool     // written since the last flush
}

func (g *segment) live() int64 { return g.size - g.ackedOff }

func (g *segment) close() {
	if g.w != nil {
		g.w.Close()
		g.w = nil
	}
	if g.r != nil {
		g.r.Close()
		g.r = nil
	}
}

func segmentName(id uint64) string { return fmt.Sprintf("%016x%s", id, segmentSuffix) }

// openSpool opens (or creates) the spool directory, locks it, and recovers
// its segments: each is checked frame by frame, a corrupt tail is truncated
// at the last good frame and reported, empty segments are deleted.
func openSpool(cfg SpoolConfig, log *slog.Logger) (*spool, error) {
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("sink: spool: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(cfg.Dir, spoolLockName), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("sink: spool: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("sink: spool %s: %w", cfg.Dir, ErrSpoolLocked)
		}
		return nil, fmt.Errorf("sink: spool %s: lock: %w", cfg.Dir, err)
	}
	acks, err := os.OpenFile(filepath.Join(cfg.Dir, spoolAckName), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("sink: spool: %w", err)
	}
	s := &spool{cfg: cfg, log: log, lock: lock, acks: acks, nextID: firstSegmentID}
	if err := s.recover(); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// recover loads the segments left in the directory.
func (s *spool) recover() error {
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		return fmt.Errorf("sink: spool: %w", err)
	}
	var ackID uint64
	var ackOff int64
	var line [64]byte
	if n, _ := s.acks.ReadAt(line[:], 0); n > 0 {
		fmt.Sscanf(string(line[:n]), ackLineFormat, &ackID, &ackOff)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			os.Remove(filepath.Join(s.cfg.Dir, name))
			continue
		}
		hex, ok := strings.CutSuffix(name, segmentSuffix)
		if !ok || len(hex) != 16 {
			continue
		}
		id, err := strconv.ParseUint(hex, 16, 64)
		if err != nil {
			continue
		}
		acked := int64(0)
		if id == ackID {
			acked = ackOff
		}
		g, err := s.recoverSegment(id, filepath.Join(s.cfg.Dir, name), acked)
		if err != nil {
			return err
		}
		s.nextID = max(s.nextID, id+1)
		if g == nil {
			continue
		}
		s.segs = append(s.segs, g)
		s.records += g.records - g.acked
		s.bytes += g.live()
	}
	slices.SortFunc(s.segs, func(a, b *segment) int {
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
	if s.records > 0 {
		s.log.Info("sink: spool holds records from a previous run; replaying them first",
			"dir", s.cfg.Dir, "records", s.records, "bytes", s.bytes, "segments", len(s.segs))
	}
	return nil
}

// recoverSegment checks one segment file. It truncates a corrupt tail, and
// deletes the file and returns nil if no record is left. Frames before
// ackOff, if it is a frame boundary, were acknowledged.
func (s *spool) recoverSegment(id uint64, path string, ackOff int64) (*segment, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("sink: spool: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("sink: spool: %w", err)
	}
	g := &segment{id: id, path: path, ackedOff: int64(len(segmentMagic))}
	sr, err := newSegmentReader(bufio.NewReaderSize(f, 1<<16), st.Size())
	if err == nil {
		for {
			if _, _, err = sr.next(); err != nil {
				break
			}
			g.records++
			if sr.off == ackOff {
				g.acked, g.ackedOff = g.records, ackOff
			}
		}
		g.size = sr.off
	}
	if err != nil && !errors.Is(err, io.EOF) {
		s.corruptTails++
		s.log.Warn("sink: spool segment has a corrupt tail (torn write or damaged disk); truncating it at the last good record",
			"segment", path, "records_kept", g.records, "bytes_discarded", st.Size()-g.size, "error", err)
		if g.records > 0 {
			if err := f.Truncate(g.size); err != nil {
				return nil, fmt.Errorf("sink: spool: truncate %s: %w", path, err)
			}
		}
	}
	if g.records == g.acked {
		f.Close()
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("sink: spool: %w", err)
		}
		return nil, nil
	}
	return g, nil
}

// len returns the number of records not yet acknowledged.
func (s *spool) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records
}

// append adds r at the tail, first making room if the spool is full.
func (s *spool) append(r *schema.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.buf = appendFrame(s.buf[:0], r)
	n := int64(len(s.buf))
	if s.bytes+n > s.cfg.MaxBytes {
		if err := s.makeRoom(n); err != nil {
			return err
		}
	}
	g, err := s.tail()
	if err != nil {
		return err
	}
	if _, err := g.w.Write(s.buf); err != nil {
		g.w.Truncate(g.size) // drop a torn frame; the write error is what matters
		return fmt.Errorf("sink: spool: append to %s: %w", g.path, err)
	}
	g.size += n
	g.records++
	s.records++
	s.bytes += n
	if g.size >= s.cfg.SegmentBytes {
		return s.seal(g)
	}
	return s.flushed(g)
}

// tail returns the segment open for appending, creating it if needed.
func (s *spool) tail() (*segment, error) {
	if n := len(s.segs); n > 0 && s.segs[n-1].w != nil {
		return s.segs[n-1], nil
	}
	g, err := s.create(s.nextID, nil)
	if err != nil {
		return nil, err
	}
	s.nextID++
	s.segs = append(s.segs, g)
	return g, nil
}

// create writes a new segment file holding frames and returns it open for
// appending.
func (s *spool) create(id uint64, frames []byte) (*segment, error) {
	path := filepath.Join(s.cfg.Dir, segmentName(id))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("sink: spool: %w", err)
	}
	if _, err := f.Write(append([]byte(segmentMagic), frames...)); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("sink: spool: write %s: %w", path, err)
	}
	g := &segment{id: id, path: path, w: f, size: int64(len(segmentMagic) + len(frames)), ackedOff: int64(len(segmentMagic)), dirty: true}
	s.dirChanged()
	return g, nil
}

// seal closes the tail for appending. Under FsyncInterval the flush and
// close are left to the next scheduled flush, so that no Write waits on it.
func (s *spool) seal(g *segment) error {
	f := g.w
	g.w, g.dirty = nil, false
	switch s.cfg.Fsync {
	case FsyncAlways:
		err := f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("sink: spool: flush %s: %w", g.path, err)
		}
	case FsyncInterval:
		s.unsynced = append(s.unsynced, f)
		s.scheduleSync()
	default:
		f.Close()
	}
	return nil
}

// flushed applies the fsync policy after g was written.
func (s *spool) flushed(g *segment) error {
	g.dirty = true
	switch s.cfg.Fsync {
	case FsyncAlways:
		g.dirty = false
		if err := g.w.Sync(); err != nil {
			return fmt.Errorf("sink: spool: flush %s: %w", g.path, err)
		}
	case FsyncInterval:
		s.scheduleSync()
	}
	return nil
}

func (s *spool) scheduleSync() {
	if s.syncTimer == nil && !s.closed {
		s.syncTimer = time.AfterFunc(s.cfg.FsyncInterval, s.syncDirty)
	}
}

// syncDirty flushes what was written since the last flush: the tail,
// sealed segments and the directory. It runs on the FsyncInterval timer's
// goroutine and flushes without holding mu.
func (s *spool) syncDirty() {
	s.mu.Lock()
	s.syncTimer = nil
	if s.closed {
		s.mu.Unlock()
		return
	}
	sealed := s.unsynced
	s.unsynced = nil
	var open []*os.File
	for _, g := range s.segs {
		if g.dirty && g.w != nil {
			open = append(open, g.w)
			g.dirty = false
		}
	}
	dir := s.dirDirty
	s.dirDirty = false
	s.mu.Unlock()

	for _, f := range append(open, sealed...) {
		// A tail sealed or deleted meanwhile is closed: its flush is
		// queued again, or not needed.
		if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
			s.log.Error("sink: spool: flush failed", "file", f.Name(), "error", err)
		}
	}
	for _, f := range sealed {
		f.Close()
	}
	if dir {
		s.syncDir()
	}
}

// syncLocked flushes everything, with mu held: at close.
func (s *spool) syncLocked() {
	for _, f := range s.unsynced {
		f.Sync()
		f.Close()
	}
	s.unsynced = nil
	for _, g := range s.segs {
		if g.dirty && g.w != nil {
			if err := g.w.Sync(); err != nil {
				s.log.Error("sink: spool: flush failed", "segment", g.path, "error", err)
			}
			g.dirty = false
		}
	}
	s.syncDir()
}

// dirChanged applies the fsync policy after files were created or deleted.
func (s *spool) dirChanged() {
	switch s.cfg.Fsync {
	case FsyncAlways:
		s.syncDir()
	case FsyncInterval:
		s.dirDirty = true
		s.scheduleSync()
	}
}

// syncDir flushes the directory, so created and deleted files survive a
// power loss.
func (s *spool) syncDir() {
	d, err := os.Open(s.cfg.Dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}

// prepend writes recs as a new segment before every other, for records
// older than everything spooled. The first pinned of them are in flight:
// they count as peeked. Nothing of the spool may be pinned when it is
// called.
func (s *spool) prepend(recs []schema.Record, pinned int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(recs) == 0 {
		return nil
	}
	if len(s.pinned) != 0 {
		return errors.New("sink: spool: prepend while records are in flight")
	}
	// Segments of at most SegmentBytes, so that a full spool drops no more
	// than it must.
	type chunk struct {
		frames  []byte
		records int
	}
	var chunks []chunk
	var sizes []int64
	var total int64
	for i := range recs {
		if len(chunks) == 0 || int64(len(chunks[len(chunks)-1].frames)) >= s.cfg.SegmentBytes {
			chunks = append(chunks, chunk{})
		}
		c := &chunks[len(chunks)-1]
		n := len(c.frames)
		c.frames = appendFrame(c.frames, &recs[i])
		c.records++
		sizes = append(sizes, int64(len(c.frames)-n))
		total += int64(len(c.frames) - n)
	}
	for i := len(chunks) - 1; i >= 0; i-- {
		if err := s.insertHead(chunks[i].frames, chunks[i].records); err != nil {
			for range len(chunks) - 1 - i { // all or nothing
				s.remove(0)
			}
			return err
		}
	}
	s.records += len(recs)
	s.bytes += total
	s.pinned = append(s.pinned, sizes[:pinned]...)
	if s.bytes > s.cfg.MaxBytes {
		return s.makeRoom(0)
	}
	return nil
}

// insertHead writes frames (records of them) as a sealed segment before
// every other.
func (s *spool) insertHead(frames []byte, records int) error {
	id := s.nextID
	if len(s.segs) > 0 {
		id = s.segs[0].id - 1
	} else {
		s.nextID++
	}
	g, err := s.create(id, frames)
	if err != nil {
		return err
	}
	g.records = records
	if err := s.seal(g); err != nil {
		return err
	}
	s.segs = slices.Insert(s.segs, 0, g)
	s.saveAck() // the new head has nothing acknowledged; its id may be a deleted one's
	return nil
}

// peek returns up to max records after those already pinned, oldest first,
// stopping before the first record fits rejects, and pins them.
func (s *spool) peek(max int, fits func(r *schema.Record) bool) ([]schema.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, off := s.cursor()
	var out []schema.Record
	for len(out) < max && i < len(s.segs) {
		g := s.segs[i]
		if off >= g.size {
			i++
			if i < len(s.segs) {
				off = s.segs[i].ackedOff
			}
			continue
		}
		r, size, err := s.readFrame(g, off)
		if err != nil {
			s.lose(i, off, err)
			continue
		}
		if !fits(&r) {
			break
		}
		out = append(out, r)
		s.pinned = append(s.pinned, size)
		off += size
	}
	return out, nil
}

// cursor returns the segment index and offset of the first unpinned record.
func (s *spool) cursor() (int, int64) {
	var skip int64
	for _, n := range s.pinned {
		skip += n
	}
	for i, g := range s.segs {
		if skip < g.live() {
			return i, g.ackedOff + skip
		}
		skip -= g.live()
	}
	if len(s.segs) == 0 {
		return 0, 0
	}
	last := s.segs[len(s.segs)-1]
	return len(s.segs) - 1, last.size
}

// readFrame reads and checks the frame at off of g.
func (s *spool) readFrame(g *segment, off int64) (schema.Record, int64, error) {
	if g.r == nil {
		f, err := os.Open(g.path)
		if err != nil {
			return schema.Record{}, 0, err
		}
		g.r = f
	}
	var hdr [frameHeaderSize]byte
	if _, err := g.r.ReadAt(hdr[:], off); err != nil {
		return schema.Record{}, 0, err
	}
	n := int64(binary.LittleEndian.Uint32(hdr[:]))
	if n > g.size-off-frameHeaderSize {
		return schema.Record{}, 0, fmt.Errorf("%w: frame at byte %d declares %d bytes", ErrCorrupt, off, n)
	}
	payload := make([]byte, n)
	if _, err := g.r.ReadAt(payload, off+frameHeaderSize); err != nil {
		return schema.Record{}, 0, err
	}
	r, err := checkFrame(hdr[:], payload)
	if err != nil {
		return schema.Record{}, 0, fmt.Errorf("frame at byte %d: %w", off, err)
	}
	return r, frameHeaderSize + n, nil
}

// lose gives up the records of segment i from off on, which can no longer
// be read (the disk changed under us): they are counted as corrupt.
func (s *spool) lose(i int, off int64, err error) {
	g := s.segs[i]
	s.corruptTails++
	kept := g.acked + len(s.pinnedIn(i))
	lost := g.records - kept
	s.log.Error("sink: spool segment became unreadable; its remaining records are lost",
		"segment", g.path, "offset", off, "records_lost", lost, "error", err)
	s.records -= lost
	s.bytes -= g.size - off
	g.records = kept
	g.size = off
	if g.w != nil {
		g.w.Truncate(off)
		s.seal(g)
	}
}

// pinnedIn returns the sizes of the pinned frames that lie in segment i.
func (s *spool) pinnedIn(i int) []int64 {
	p := s.pinned
	for j := 0; j < i && len(p) > 0; j++ {
		live := s.segs[j].live()
		for live > 0 && len(p) > 0 {
			live -= p[0]
			p = p[1:]
		}
	}
	var out []int64
	live := s.segs[i].live()
	for live > 0 && len(p) > 0 {
		live -= p[0]
		out = append(out, p[0])
		p = p[1:]
	}
	return out
}

// ack acknowledges the n oldest records, which must be pinned, deleting
// segments that hold nothing else.
func (s *spool) ack(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ; n > 0 && len(s.pinned) > 0; n-- {
		g := s.segs[0]
		size := s.pinned[0]
		s.pinned = s.pinned[1:]
		g.ackedOff += size
		g.acked++
		s.records--
		s.bytes -= size
		if g.acked >= g.records {
			s.remove(0)
		}
	}
	s.saveAck()
}

// saveAck records how far the oldest segment is acknowledged. It is not
// flushed: losing it only means delivering some records again.
func (s *spool) saveAck() {
	var id uint64
	var off int64
	if len(s.segs) > 0 {
		id, off = s.segs[0].id, s.segs[0].ackedOff
	}
	if _, err := fmt.Fprintf(io.NewOffsetWriter(s.acks, 0), ackLineFormat, id, off); err != nil {
		s.log.Warn("sink: spool: cannot record acknowledgements", "error", err)
	}
}

// remove deletes segment i.
func (s *spool) remove(i int) {
	g := s.segs[i]
	g.close()
	if err := os.Remove(g.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Error("sink: spool: cannot delete a delivered segment", "segment", g.path, "error", err)
	}
	s.segs = slices.Delete(s.segs, i, i+1)
	s.dirChanged()
}

// makeRoom drops the oldest unpinned records until n more bytes fit in
// MaxBytes, whole segments at a time: the pinned records of the dropped
// segments, and a sink_drop gap record per stream and epoch that lost
// records, are written to a new head segment in their place. If every
// record is pinned, nothing is dropped and the spool grows past MaxBytes.
func (s *spool) makeRoom(n int64) error {
	need := s.bytes + n - s.cfg.MaxBytes
	pinLeft := int64(0)
	for _, p := range s.pinned {
		pinLeft += p
	}
	var freed int64
	i := 0
	for ; i < len(s.segs) && freed < need; i++ {
		live := s.segs[i].live()
		fromPinned := min(pinLeft, live)
		pinLeft -= fromPinned
		freed += live - fromPinned
	}
	if freed == 0 {
		return nil
	}
	var kept []byte
	var dropped []schema.Record
	pinned := len(s.pinned)
	for _, g := range s.segs[:i] {
		for off := g.ackedOff; off < g.size; {
			r, size, err := s.readFrame(g, off)
			if err != nil {
				// Unreadable: it is dropped either way, without a gap.
				s.corruptTails++
				s.log.Error("sink: spool: unreadable record while dropping", "segment", g.path, "offset", off, "error", err)
				break
			}
			if pinned > 0 {
				pinned--
				kept = appendFrame(kept, &r)
			} else {
				dropped = append(dropped, r)
			}
			off += size
		}
	}
	gaps, drops := dropGaps(dropped)
	head := kept
	for j := range gaps {
		head = appendFrame(head, &gaps[j])
	}
	var removedRecords int
	var removedBytes int64
	for range i {
		g := s.segs[0]
		removedRecords += g.records - g.acked
		removedBytes += g.live()
		s.remove(0)
	}
	s.saveAck()
	s.records -= removedRecords
	s.bytes -= removedBytes
	s.dropGaps += uint64(len(gaps))
	s.drops = append(s.drops, drops...)
	// One line per round, not per stream: a round can drop records of
	// every stream, and rounds follow each other while the spool is full.
	var lost int
	var audio time.Duration
	for _, d := range drops {
		s.dropped += uint64(d.Records)
		lost, audio = lost+d.Records, audio+d.Audio
		s.log.Debug("sink: spool full: dropped the oldest records of a stream", "stream", d.Stream, "records", d.Records, "audio", d.Audio)
	}
	if len(drops) > 0 {
		s.log.Warn("sink: spool full: dropped the oldest records, replaced by sink_drop gaps",
			"gaps", len(gaps), "records", lost, "audio", audio, "max_bytes", s.cfg.MaxBytes)
	}
	if len(head) == 0 {
		return nil
	}
	records := len(s.pinned) + len(gaps)
	if err := s.insertHead(head, records); err != nil {
		return err
	}
	s.records += records
	s.bytes += int64(len(head))
	return nil
}

// takeDrops returns the drops not yet reported and forgets them.
func (s *spool) takeDrops() []Drop {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.drops
	s.drops = nil
	return d
}

// spoolStats are the spool's gauges and counters.
type spoolStats struct {
	records                         int
	bytes                           int64
	dropped, dropGaps, corruptTails uint64
}

func (s *spool) stats() spoolStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return spoolStats{records: s.records, bytes: s.bytes, dropped: s.dropped, dropGaps: s.dropGaps, corruptTails: s.corruptTails}
}

// close flushes and closes every segment and releases the directory lock.
func (s *spool) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	if s.syncTimer != nil {
		s.syncTimer.Stop()
		s.syncTimer = nil
	}
	if s.cfg.Fsync != FsyncNone {
		s.syncLocked()
	}
	for _, f := range s.unsynced {
		f.Close()
	}
	for _, g := range s.segs {
		g.close()
	}
	s.acks.Close()
	s.lock.Close() // releases the flock
}

// ReadSpool calls fn, oldest first, with every record not yet delivered in
// the spool directory dir, without changing it: for inspection while no
// Writer uses the directory. A segment is read up to its first damaged
// record. It returns fn's error, or the error of reading the directory.
func ReadSpool(dir string, fn func(schema.Record) error) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("sink: spool: %w", err)
	}
	var ackID uint64
	var ackOff int64
	if b, err := os.ReadFile(filepath.Join(dir, spoolAckName)); err == nil {
		fmt.Sscanf(string(b), ackLineFormat, &ackID, &ackOff)
	}
	var names []string
	for _, e := range entries {
		if hex, ok := strings.CutSuffix(e.Name(), segmentSuffix); ok && len(hex) == 16 {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names) // fixed-width hex: by id
	for _, name := range names {
		id, _ := strconv.ParseUint(strings.TrimSuffix(name, segmentSuffix), 16, 64)
		if err := readSegmentFile(filepath.Join(dir, name), id == ackID, ackOff, fn); err != nil {
			return err
		}
	}
	return nil
}

// readSegmentFile calls fn with the records of a segment file from byte
// skipTo on (when skip is set).
func readSegmentFile(path string, skip bool, skipTo int64, fn func(schema.Record) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("sink: spool: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("sink: spool: %w", err)
	}
	sr, err := newSegmentReader(bufio.NewReaderSize(f, 1<<16), st.Size())
	if err != nil {
		return nil // damaged from the start: nothing readable
	}
	for {
		before := sr.off
		r, _, err := sr.next()
		if err != nil {
			return nil // the end, or damage
		}
		if skip && before < skipTo {
			continue
		}
		if err := fn(r); err != nil {
			return err
		}
	}
}
