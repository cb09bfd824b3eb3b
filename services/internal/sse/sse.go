// Package sse writes long-lived Server-Sent Events responses: the
// projector's timeline stream and the web app's live view. Each write has
// a deadline of its own, and a write blocked on a client that stopped
// reading can be cut off at once, so that such a client holds neither its
// handler nor the server's graceful stop.
package sse

import (
	"errors"
	"net/http"
	"sync"
	"time"
)

// WriteTimeout is how long one write of a stream (an event, a page of
// stored entries, a heartbeat) may take before the client is taken to
// have stopped reading and is disconnected; it reconnects and resumes. A
// client that reads at all drains a write in far less; without the
// deadline, a write to a client that stopped reading would block its
// handler, holding the connection and the server's graceful shutdown, for
// as long as the client stays connected.
const WriteTimeout = 20 * time.Second

// ErrEnded: the stream was ended (Interrupt) before a write began.
var ErrEnded = errors.New("sse: the stream has ended")

// Writer writes a stream's response, each write under a deadline, and
// lets the stream be ended while a write blocks. The server's write
// timeout is for ordinary requests; a stream lives as long as the client
// wants it.
type Writer struct {
	rc      *http.ResponseController
	timeout time.Duration

	mu      sync.Mutex
	writing bool // a write runs
	ended   bool // Interrupt was called
}

// NewWriter writes to w, each write with the deadline timeout.
func NewWriter(w http.ResponseWriter, timeout time.Duration) *Writer {
	return &Writer{rc: http.NewResponseController(w), timeout: timeout}
}

// Write runs fn, which writes to the response, and flushes, with the
// connection's write deadline timeout from now. It fails once the stream
// has ended, and when the deadline passes or Interrupt cuts it off.
func (s *Writer) Write(fn func() error) error {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return ErrEnded
	}
	err := s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	s.writing = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.writing = false
		s.mu.Unlock()
	}()
	if err != nil {
		return err
	}
	if err := fn(); err != nil {
		return err
	}
	return s.rc.Flush()
}

// Interrupt ends the stream: a write that runs fails at once, and no
// other begins. A stream not writing ends at its handler's next select,
// with the response finished as usual.
func (s *Writer) Interrupt() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended = true
	if s.writing {
		_ = s.rc.SetWriteDeadline(time.Now())
	}
}

// InterruptOn calls Interrupt as soon as any of ends is closed (the
// stream dropped, the server stopping), even while the handler is blocked
// writing to a client that no longer reads. Call the stop it returns when
// the handler returns.
func (s *Writer) InterruptOn(ends ...<-chan struct{}) (stop func()) {
	done := make(chan struct{})
	for _, end := range ends {
		go func() {
			select {
			case <-end:
				s.Interrupt()
			case <-done:
			}
		}()
	}
	return func() { close(done) }
}
