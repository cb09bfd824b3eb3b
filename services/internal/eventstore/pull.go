package eventstore

import (
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The pull requests of a long-running read (Consumer.Messages) expire
// after pullExpiry, and the server sends a heartbeat after pullHeartbeat
// without messages.
const (
	pullExpiry    = 5 * time.Second
	pullHeartbeat = time.Second
)

// Pull is how the services read a stream with a long-running pull
// (Consumer.Messages): at most maxMessages buffered, and a pull request
// that the server never received noticed within two heartbeats (2 s),
// after which nats.go sends a new one (an ordered consumer is made again
// after the last message it delivered). The missed heartbeats are not an
// error of Next.
//
// A pull request can be lost. On a cluster, the first one sent right after
// CreateConsumer returns can meet no interest yet (the consumer leader's
// subscription has not reached the server the client is connected to);
// the server answers 503, no responders, which nats.go does not count as
// the end of the request. With its defaults (30 s expiry, 15 s heartbeat)
// the read then received nothing for 30 s: a projector replica started on
// the three-node cluster applied nothing for that long, and a read with
// X-Min-Position, which waits 5 s, failed. Two missed heartbeats at these
// settings take 2 s.
func Pull(maxMessages int) []jetstream.PullMessagesOpt {
	return []jetstream.PullMessagesOpt{
		jetstream.PullMaxMessages(maxMessages),
		jetstream.PullExpiry(pullExpiry),
		jetstream.PullHeartbeat(pullHeartbeat),
		jetstream.WithMessagesErrOnMissingHeartbeat(false),
	}
}
