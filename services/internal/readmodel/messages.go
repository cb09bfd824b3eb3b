package readmodel

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/services/internal/shred"
)

// ReadBatch waits for one message, then takes more while the server says
// more are pending, up to max: a batch is whatever is available, so that a
// single new event is applied at once and a backlog in large batches.
func ReadBatch(ctx context.Context, it jetstream.MessagesContext, max int, keys *shred.Keyring) ([]Message, error) {
	batch, err := ReceiveBatch(ctx, it, max, nil)
	DecodeAll(batch, keys)
	return batch, err
}

// ReceiveBatch is ReadBatch without the decoding. After the first message
// it waits at most batchWait in all for the rest: one deadline per batch
// rather than a timer per message. The batch goes into spare's array when
// that has room for the messages pending.
func ReceiveBatch(ctx context.Context, it jetstream.MessagesContext, max int, spare []Message) ([]Message, error) {
	var batch []Message
	rest := ctx // after the first message, ctx with the batch's deadline
	for len(batch) < max {
		msg, err := it.Next(jetstream.NextContext(rest))
		if len(batch) > 0 && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return batch, nil
		}
		if err != nil {
			return batch, err
		}
		md, err := metadataOf(msg)
		if err != nil {
			return batch, fmt.Errorf("metadata: %w", err)
		}
		if batch == nil {
			// The server says how many more there are: room for them
			// at once, rather than growing a slice of large elements.
			n := min(uint64(max), md.pending+1)
			if uint64(cap(spare)) >= n {
				batch = spare[:0]
			} else {
				batch = make([]Message, 0, n)
			}
			if md.pending > 0 {
				var cancel context.CancelFunc
				rest, cancel = context.WithTimeout(ctx, batchWait)
				defer cancel()
			}
		}
		batch = append(batch, Message{seq: md.seq, subject: msg.Subject(), recorded: md.recorded,
			raw: msg.Data(), pending: md.pending, msg: msg})
		if md.pending == 0 {
			break
		}
	}
	return batch, nil
}

// delivery is what the projector reads of a message's JetStream metadata.
type delivery struct {
	seq, pending uint64
	recorded     time.Time
}

// metadataOf reads a message's stream sequence, the time the stream stored
// it and the number of messages pending after it from its reply subject,
// without the metadata struct msg.Metadata allocates for every message.
// A reply subject of another form is left to msg.Metadata.
func metadataOf(msg jetstream.Msg) (delivery, error) {
	if d, ok := parseAckSubject(msg.Reply()); ok {
		return d, nil
	}
	md, err := msg.Metadata()
	if err != nil {
		return delivery{}, err
	}
	return delivery{seq: md.Sequence.Stream, pending: md.NumPending, recorded: md.Timestamp}, nil
}

// parseAckSubject reads the two forms of a JetStream acknowledgement
// subject:
//
//	$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<tm>.<pending>
//	$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<tm>.<pending>[.<token>]
func parseAckSubject(s string) (delivery, bool) {
	rest, ok := strings.CutPrefix(s, "$JS.ACK.")
	if !ok {
		return delivery{}, false
	}
	var tok [10]string // after $JS.ACK.; a v2 subject's last token is ignored
	n := 0
	for n < len(tok) {
		var more bool
		tok[n], rest, more = strings.Cut(rest, ".")
		n++
		if !more {
			break
		}
	}
	var seq, tm, pending string
	switch n {
	case 7: // v1: stream, consumer, delivered, sseq, cseq, tm, pending
		seq, tm, pending = tok[3], tok[5], tok[6]
	case 9, 10: // v2
		seq, tm, pending = tok[5], tok[7], tok[8]
	default:
		return delivery{}, false
	}
	sq, err1 := strconv.ParseUint(seq, 10, 64)
	ns, err2 := strconv.ParseInt(tm, 10, 64)
	pd, err3 := strconv.ParseUint(pending, 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return delivery{}, false
	}
	return delivery{seq: sq, pending: pd, recorded: time.Unix(0, ns)}, true
}

// batchWait is how long a batch waits for the messages the server said
// were pending when its first message came.
const batchWait = 2 * time.Second

// DecodeAll decodes a batch on every core: validating an event costs more
// than applying it, and the applier needs only part of one core. keys
// decrypt the events' personal fields (package shred).
func DecodeAll(batch []Message, keys *shred.Keyring) {
	for i := range batch {
		batch[i].keys = keys
	}
	workers := min(runtime.GOMAXPROCS(0), len(batch)/64+1)
	if workers <= 1 {
		for i := range batch {
			batch[i].decode()
		}
		return
	}
	var wg sync.WaitGroup
	chunk := (len(batch) + workers - 1) / workers
	for lo := 0; lo < len(batch); lo += chunk {
		part := batch[lo:min(lo+chunk, len(batch))]
		wg.Go(func() {
			for i := range part {
				part[i].decode()
			}
		})
	}
	wg.Wait()
}
