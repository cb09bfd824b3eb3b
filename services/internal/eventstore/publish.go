package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Message is one event to append: its subject, the structured CloudEvent
// JSON, its id (Nats-Msg-Id) and, when Expect is set, the optimistic
// concurrency check "the last message under ExpectFilter has sequence
// ExpectSeq" (0 means none yet). It is sent with Nats-Expected-Stream
// FAMILY_EVENTS: a stream that has taken its subject from FAMILY_EVENTS
// refuses it rather than storing it.
type Message struct {
	Subject      string
	Data         []byte
	MsgID        string
	Expect       bool
	ExpectFilter string
	ExpectSeq    uint64
}

func (m Message) natsMsg() *nats.Msg {
	msg := nats.NewMsg(m.Subject)
	msg.Data = m.Data
	msg.Header.Set(jetstream.ExpectedStreamHeader, FamilyStream)
	if m.MsgID != "" {
		msg.Header.Set(jetstream.MsgIDHeader, m.MsgID)
	}
	if m.Expect {
		msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(m.ExpectSeq, 10))
		msg.Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, m.ExpectFilter)
	}
	return msg
}

// Publisher appends events to FAMILY_EVENTS.
type Publisher struct {
	NC *nats.Conn
	JS jetstream.JetStream
	// Timeout bounds the wait for an acknowledgement.
	Timeout time.Duration

	mu sync.Mutex
	// conn is cancelled when the connection drops, and replaced when it
	// is back.
	conn       context.Context
	connCancel context.CancelFunc
}

// NewPublisher wraps a connection.
func NewPublisher(nc *nats.Conn) (*Publisher, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	p := &Publisher{NC: nc, JS: js, Timeout: 5 * time.Second}
	p.conn, p.connCancel = context.WithCancel(context.Background())
	// A request in flight when the connection drops would otherwise wait
	// for its whole timeout: the server that would answer it is gone.
	// A connection has one handler of each kind, and several publishers
	// may share it (the standalone's ingest and erasure): each handler
	// calls the one it replaces, so that every publisher is told.
	handlersMu.Lock()
	defer handlersMu.Unlock()
	prevDisconnect, prevReconnect := nc.DisconnectErrHandler(), nc.ReconnectHandler()
	nc.SetDisconnectErrHandler(func(c *nats.Conn, err error) {
		if prevDisconnect != nil {
			prevDisconnect(c, err)
		}
		p.mu.Lock()
		p.connCancel()
		p.mu.Unlock()
	})
	nc.SetReconnectHandler(func(c *nats.Conn) {
		if prevReconnect != nil {
			prevReconnect(c)
		}
		p.mu.Lock()
		if p.conn.Err() != nil {
			p.conn, p.connCancel = context.WithCancel(context.Background())
		}
		p.mu.Unlock()
	})
	return p, nil
}

// handlersMu makes reading a connection's handlers and replacing them one
// step, so that publishers made at once on a connection all stay in its
// chain.
var handlersMu sync.Mutex

// requestContext bounds a wait for an acknowledgement by the timeout and
// by the connection staying up (without a goroutine a request: the
// callback runs only if the connection drops).
func (p *Publisher) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	p.mu.Lock()
	conn := p.conn
	p.mu.Unlock()
	stop := context.AfterFunc(conn, cancel)
	return ctx, func() { stop(); cancel() }
}

// Ack is the outcome of a stored write.
type Ack struct {
	// Sequence is the stream sequence of the (last) message.
	Sequence uint64
	// Duplicate is set when JetStream recognised the Nats-Msg-Id within
	// its dedupe window; Sequence is then the original message's.
	Duplicate bool
}

func (p *Publisher) available() error {
	if p == nil || p.NC == nil {
		return fmt.Errorf("%w: no connection", ErrUnavailable)
	}
	if st := p.NC.Status(); st != nats.CONNECTED {
		return fmt.Errorf("%w: connection %s", ErrUnavailable, st)
	}
	return nil
}

// Publish appends one message and waits for JetStream's acknowledgement.
func (p *Publisher) Publish(ctx context.Context, m Message) (Ack, error) {
	if err := p.available(); err != nil {
		return Ack{}, err
	}
	ctx, cancel := p.requestContext(ctx)
	defer cancel()
	ack, err := p.JS.PublishMsg(ctx, m.natsMsg(), jetstream.WithRetryAttempts(0))
	if err != nil {
		return Ack{}, classify(err)
	}
	if err := ackedBy(ack.Stream); err != nil {
		return Ack{}, err
	}
	return Ack{Sequence: ack.Sequence, Duplicate: ack.Duplicate}, nil
}

// ackedBy is nil when an acknowledgement names FAMILY_EVENTS. An
// acknowledgement of another stream is no stored event: the event is not
// in the history, whatever stored it.
func ackedBy(stream string) error {
	if stream == FamilyStream {
		return nil
	}
	return fmt.Errorf("%w: %w: acknowledged by stream %q, not %s: the event is not in the history",
		ErrUnavailable, ErrIntegrity, stream, FamilyStream)
}

// MaxBatch is the most messages JetStream takes in one atomic batch.
const MaxBatch = 1000

type batchAck struct {
	Stream   string              `json:"stream"`
	Sequence uint64              `json:"seq"`
	BatchID  string              `json:"batch"`
	Count    int                 `json:"count"`
	Error    *jetstream.APIError `json:"error"`
}

// PublishBatch appends all messages atomically: either every one is stored,
// consecutively, or none is. It returns the sequence of the last message;
// message i has sequence last-len(ms)+1+i.
//
// nats.go has no helper for atomic batches, so the headers of the protocol
// (Nats-Batch-Id, Nats-Batch-Sequence, Nats-Batch-Commit) are set here. Only
// the commit is a request; the server reports a gap or a failed check of any
// earlier message in its answer to the commit.
func (p *Publisher) PublishBatch(ctx context.Context, ms []Message) (uint64, error) {
	if len(ms) == 0 {
		return 0, errors.New("eventstore: empty batch")
	}
	if len(ms) > MaxBatch {
		return 0, fmt.Errorf("eventstore: batch of %d exceeds %d", len(ms), MaxBatch)
	}
	if err := p.available(); err != nil {
		return 0, err
	}
	ctx, cancel := p.requestContext(ctx)
	defer cancel()
	id := uuid.NewString()
	for i, m := range ms {
		msg := m.natsMsg()
		msg.Header.Set("Nats-Batch-Id", id)
		msg.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
		if i < len(ms)-1 {
			if err := p.NC.PublishMsg(msg); err != nil {
				return 0, classify(err)
			}
			continue
		}
		msg.Header.Set("Nats-Batch-Commit", "1")
		resp, err := p.NC.RequestMsgWithContext(ctx, msg)
		if err != nil {
			return 0, classify(err)
		}
		var ack batchAck
		if err := json.Unmarshal(resp.Data, &ack); err != nil {
			return 0, fmt.Errorf("%w: unreadable batch ack: %w", ErrUnavailable, err)
		}
		if ack.Error != nil {
			return 0, classify(ack.Error)
		}
		if err := ackedBy(ack.Stream); err != nil {
			return 0, err
		}
		if ack.Count != len(ms) {
			return 0, fmt.Errorf("eventstore: batch ack counts %d of %d messages", ack.Count, len(ms))
		}
		return ack.Sequence, nil
	}
	panic("unreachable")
}

// LastSequence is the stream sequence of the last message under filter
// (wildcards allowed, e.g. families.F1.>), 0 when there is none: what a
// reader's view must have applied to be current for that filter.
func (p *Publisher) LastSequence(ctx context.Context, filter string) (uint64, error) {
	if err := p.available(); err != nil {
		return 0, err
	}
	ctx, cancel := p.requestContext(ctx)
	defer cancel()
	st, err := p.JS.Stream(ctx, FamilyStream)
	if err != nil {
		return 0, classify(err)
	}
	m, err := st.GetLastMsgForSubject(ctx, filter)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, classify(err)
	}
	return m.Sequence, nil
}
