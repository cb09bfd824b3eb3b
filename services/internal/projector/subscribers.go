package projector

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"kk.dk/jobogfamilie/services/internal/readmodel"
)

// subscriberBuffer is how many batches of entries a timeline stream may
// have waiting. A client that falls further behind is dropped rather than
// slowing the projector or anyone else; it resumes with Last-Event-ID.
const subscriberBuffer = 64

// subscriber is one open timeline stream.
type subscriber struct {
	familyID string
	ch       chan []readmodel.Entry
	// dropped is closed when the subscriber fell behind or the projector
	// began to stop; the stream then ends.
	dropped chan struct{}
	// regate is set when a re-drive of the quarantine moved entries of
	// the family to its timeline: the stream's consent gate, folded
	// before, knows nothing of them (they are history, below what it
	// observes), so it is read again before the next entry is judged
	// (Projector.gateNow).
	regate atomic.Bool
	// reset is closed when a rebuild swapped in a read model behind the
	// one the stream followed (the stream was replaced): the client's last
	// id names nothing of the new stream, and resuming after it would wait
	// for entries it never gets. Unlike dropped it does not cut off the
	// stream's writes, so that the stream can still say so.
	reset chan struct{}
}

// subscribers are the open timeline streams by family. The applier only
// ever does non-blocking sends to them.
type subscribers struct {
	mu      sync.RWMutex
	byFam   map[string]map[*subscriber]struct{}
	dropped prometheus.Counter
	gauge   prometheus.Gauge
	// closed is set by closeAll: the projector is stopping, and a stream
	// opened from then on ends at once.
	closed bool
}

func newSubscribers() *subscribers {
	return &subscribers{byFam: map[string]map[*subscriber]struct{}{}}
}

func (s *subscribers) subscribe(familyID string) *subscriber {
	sub := &subscriber{familyID: familyID, ch: make(chan []readmodel.Entry, subscriberBuffer), dropped: make(chan struct{}), reset: make(chan struct{})}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		close(sub.dropped)
		return sub
	}
	set := s.byFam[familyID]
	if set == nil {
		set = map[*subscriber]struct{}{}
		s.byFam[familyID] = set
	}
	set[sub] = struct{}{}
	if s.gauge != nil {
		s.gauge.Inc()
	}
	return sub
}

// unsubscribe removes sub; it is safe after a drop.
func (s *subscribers) unsubscribe(sub *subscriber) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeLocked(sub)
}

func (s *subscribers) removeLocked(sub *subscriber) bool {
	set := s.byFam[sub.familyID]
	if _, ok := set[sub]; !ok {
		return false
	}
	delete(set, sub)
	if len(set) == 0 {
		delete(s.byFam, sub.familyID)
	}
	if s.gauge != nil {
		s.gauge.Dec()
	}
	return true
}

// has reports whether anyone streams the family, so that the applier
// builds entries only for those families.
func (s *subscribers) has(familyID string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.byFam[familyID]) > 0
}

// regate marks the streams of the families for their consent gate to be
// read again (subscriber.regate).
func (s *subscribers) regate(families map[string]bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for fam := range families {
		for sub := range s.byFam[fam] {
			sub.regate.Store(true)
		}
	}
}

// publish hands each family's new entries to its streams, dropping those
// whose buffer is full.
func (s *subscribers) publish(entries map[string][]readmodel.Entry) {
	if len(entries) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for fam, es := range entries {
		for sub := range s.byFam[fam] {
			select {
			case sub.ch <- es:
			default:
				s.removeLocked(sub)
				close(sub.dropped)
				if s.dropped != nil {
					s.dropped.Inc()
				}
			}
		}
	}
}

// resetAll ends every stream with a reset (subscriber.reset); streams
// opened later are not affected.
func (s *subscribers) resetAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, set := range s.byFam {
		for sub := range set {
			s.removeLocked(sub)
			close(sub.reset)
		}
	}
}

// closeAll ends every stream, and every stream opened later, as soon as
// the projector begins to stop: an open stream would otherwise hold the
// HTTP server's graceful shutdown, which waits for its handlers, until
// the shutdown timeout.
func (s *subscribers) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, set := range s.byFam {
		for sub := range set {
			s.removeLocked(sub)
			close(sub.dropped)
		}
	}
}
