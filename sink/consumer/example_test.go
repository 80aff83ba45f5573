package consumer_test

import (
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/earshot/earshot/sink"
	"github.com/earshot/earshot/sink/consumer"
)

// An ASR consumer decodes each Kafka message, drops redeliveries and feeds
// the reassembled timeline to its recognizer: audio to transcribe, gaps to
// account for, ends to finalize on. Here the messages are made in place of
// a kafka.Reader's FetchMessage.
func Example() {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	rec := func(kind sink.Kind, seq uint64, offset int64) sink.Record {
		return sink.Record{Stream: "gate-north", Kind: kind, Epoch: 1, Seq: seq, SampleRate: 16000, Channels: 1,
			Codec: "opus", Offset: offset, CaptureTime: t0.Add(time.Duration(offset) * time.Second / 16000), Clock: sink.ClockNTP}
	}
	chunk := func(seq uint64, offset int64) sink.Record {
		r := rec(sink.KindAudio, seq, offset)
		r.PCM = make([]byte, 2*3200) // 200 ms
		return r
	}
	loss := rec(sink.KindGap, 2, 3200)
	loss.GapMS, loss.Reason = 100, "rtp_loss"
	end := rec(sink.KindEnd, 5, 8000)
	end.Reason = "shutdown"
	var msgs []kafka.Message
	for _, r := range []sink.Record{rec(sink.KindStart, 0, 0), chunk(1, 0), loss, chunk(3, 4800), chunk(3, 4800), end} {
		msgs = append(msgs, r.Message("earshot.audio"))
	}

	var dedup consumer.Deduplicator
	var asm consumer.Reassembler
	for _, m := range msgs {
		e, err := consumer.Decode(m)
		if err != nil {
			fmt.Println("skipping:", err)
			continue
		}
		if !dedup.Fresh(e.Key()) {
			continue // a redelivery
		}
		asm.Add(e, func(p consumer.Piece) {
			switch p.Kind {
			case consumer.PieceAudio:
				fmt.Printf("%s: audio %v at %v\n", p.Stream, p.Duration(), p.CaptureTime.Format("15:04:05.000"))
			case consumer.PieceGap:
				fmt.Printf("%s: gap %v (%s)\n", p.Stream, p.Duration(), p.Reason)
			case consumer.PieceEnd:
				fmt.Printf("%s: end (%s)\n", p.Stream, p.Reason)
			}
		})
	}
	fmt.Println("duplicates:", dedup.Duplicates)
	// Output:
	// gate-north: audio 200ms at 12:00:00.000
	// gate-north: gap 100ms (rtp_loss)
	// gate-north: audio 200ms at 12:00:00.300
	// gate-north: end (shutdown)
	// duplicates: 1
}
