package projector

import (
	"testing"
	"time"

	"kk.dk/jobogfamilie/services/internal/readmodel"
)

// TestSlowSubscriberDropped: a stream whose client does not read is
// dropped when its buffer is full, without blocking the publisher or
// disturbing another stream of the same family.
func TestSlowSubscriberDropped(t *testing.T) {
	t.Parallel()
	s := newSubscribers()
	slow := s.subscribe("F1")
	fast := s.subscribe("F1")
	got := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-fast.ch:
				got++
			case <-fast.dropped:
				return
			}
		}
	}()
	// A publisher that blocked on the full buffer would never finish: the
	// minute is a bound on a hang, not a speed.
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := range 10 * subscriberBuffer {
			s.publish(map[string][]readmodel.Entry{"F1": {{Sequence: uint64(i + 1)}}})
			if i%subscriberBuffer == 0 {
				// Let the reading client keep up.
				for s.has("F1") && len(fast.ch) > 0 {
					time.Sleep(time.Millisecond)
				}
			}
		}
	}()
	select {
	case <-published:
	case <-time.After(time.Minute):
		t.Fatal("the publisher blocked: it did not finish in a minute")
	}
	select {
	case <-slow.dropped:
	default:
		t.Fatal("the slow subscriber was not dropped")
	}
	if len(slow.ch) != subscriberBuffer {
		t.Errorf("slow buffer holds %d", len(slow.ch))
	}
	select {
	case <-fast.dropped:
		t.Fatal("the reading subscriber was dropped")
	default:
	}
	s.unsubscribe(slow) // safe after the drop
	s.closeAll()
	<-done
	if got == 0 {
		t.Error("the reading subscriber got nothing")
	}
	if s.has("F1") {
		t.Error("subscribers left after closeAll")
	}
}

// TestSubscribeAfterCloseAll: once the projector has begun to stop, a
// stream that subscribes ends at once instead of holding the stop.
func TestSubscribeAfterCloseAll(t *testing.T) {
	t.Parallel()
	s := newSubscribers()
	open := s.subscribe("F1")
	s.closeAll()
	select {
	case <-open.dropped:
	default:
		t.Fatal("an open stream was not ended")
	}
	late := s.subscribe("F1")
	select {
	case <-late.dropped:
	default:
		t.Fatal("a stream subscribed after closeAll is not ended")
	}
	if s.has("F1") {
		t.Error("a stream subscribed after closeAll is registered")
	}
	s.unsubscribe(late) // safe
	s.closeAll()        // and again
}
