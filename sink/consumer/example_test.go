package consumer_test

import (
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/earshot/earshot/sink/consumer"
	"github.com/earshot/earshot/sink/schema"
)

// records are what earshot writes for one stream: a start, audio, a gap of
// lost packets, the same chunk twice (a redelivery) and an end.
func records() []schema.Record {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	rec := func(kind schema.Kind, seq uint64, offset int64) schema.Record {
		return schema.Record{Stream: "gate-north", Kind: kind, Epoch: 1, Seq: seq, SampleRate: 16000, Channels: 1,
			Codec: "opus", Offset: offset, CaptureTime: t0.Add(time.Duration(offset) * time.Second / 16000), Clock: schema.ClockNTP}
	}
	chunk := func(seq uint64, offset int64) schema.Record {
		r := rec(schema.KindAudio, seq, offset)
		r.PCM = make([]byte, 2*3200) // 200 ms
		return r
	}
	loss := rec(schema.KindGap, 2, 3200)
	loss.GapMS, loss.Reason = 100, schema.ReasonRTPLoss
	end := rec(schema.KindEnd, 5, 8000)
	end.Reason = schema.ReasonShutdown
	return []schema.Record{rec(schema.KindStart, 0, 0), chunk(1, 0), loss, chunk(3, 4800), chunk(3, 4800), end}
}

// An ASR consumer decodes each Kafka message, drops redeliveries and feeds
// the reassembled timeline to its recognizer: audio to transcribe, gaps to
// account for, ends to finalize on. Here kafka-go messages are made in place
// of a kafka.Reader's FetchMessage.
func Example() {
	var msgs []kafka.Message
	for _, r := range records() {
		key, headers, value := schema.Encode[kafka.Header](r)
		msgs = append(msgs, kafka.Message{Topic: "earshot.audio", Key: key, Value: value, Headers: headers, Time: r.CaptureTime})
	}

	var dedup consumer.Deduplicator
	var asm consumer.Reassembler
	for _, m := range msgs {
		e, err := consumer.Decode(consumer.Message{Key: m.Key, Value: m.Value, Headers: consumer.Headers(m.Headers), Time: m.Time, Partition: m.Partition, Offset: m.Offset})
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

// With franz-go, a fetched *kgo.Record converts the same way; here the
// records are made in place of a kgo.Client's PollFetches.
func Example_franzGo() {
	for _, rec := range records()[:3] {
		key, headers, value := schema.Encode[kgo.RecordHeader](rec)
		r := &kgo.Record{Topic: "earshot.audio", Key: key, Value: value, Headers: headers, Timestamp: rec.CaptureTime, Partition: 4, Offset: int64(rec.Seq)}

		e, err := consumer.Decode(consumer.Message{Key: r.Key, Value: r.Value, Headers: consumer.Headers(r.Headers), Time: r.Timestamp, Partition: int(r.Partition), Offset: r.Offset})
		if err != nil {
			fmt.Println("skipping:", err)
			continue
		}
		f := e.Fields()
		fmt.Printf("%s epoch %d seq %d: %s at partition %d offset %d\n", f.Stream, f.Epoch, f.Seq, f.Kind, r.Partition, r.Offset)
	}
	// Output:
	// gate-north epoch 1 seq 0: start at partition 4 offset 0
	// gate-north epoch 1 seq 1: audio at partition 4 offset 1
	// gate-north epoch 1 seq 2: gap at partition 4 offset 2
}
