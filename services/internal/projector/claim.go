package projector

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"kk.dk/jobogfamilie/services/internal/dirlock"
	"kk.dk/jobogfamilie/services/internal/eventstore"
)

// A projector's durable consumer is for one process alone: two would each
// delete and create it again at their checkpoints, and stall each other
// while both say ready. Two guards keep it so.
//
// On one machine, the read model's directory is locked (lockDir): a
// second process on the same data directory and instance refuses at once.
//
// Across machines, each process claims its consumer on the core NATS
// subject eventstore.ProjectorClaimSubject(consumer), which only the
// projector user may use. A claim is a random token, the time the claim
// began, and whether its process is still starting. A starting process
// subscribes, announces itself, and listens for claimWindow; every
// process that holds the consumer answers an announcement with its own
// claim, and repeats it every claimEvery. Then:
//   - a starting process that hears a running one refuses to start;
//   - of two starting processes (started at once), the later claim (by
//     time, then token) refuses; both hear both claims, since each
//     subscribes before it announces, and decide alike;
//   - a running process that hears another running one (two that missed
//     each other at start, as when NATS was split) keeps running if its
//     claim is the earlier, and otherwise stops consuming and reports not
//     ready, with an error in its log naming the other.
// The process answers on NATS's core subjects only: no stream stores a
// claim, and nothing is left behind when a process ends.

// claimWindow is how long a starting projector listens for another
// process's claim of its consumer; claimEvery is how often a running one
// repeats its claim.
var (
	claimWindow = 300 * time.Millisecond
	claimEvery  = 5 * time.Second
)

// claimMsg is one process's claim of a consumer.
type claimMsg struct {
	Token    string `json:"token"`
	Since    int64  `json:"since"` // Unix nanoseconds
	Starting bool   `json:"starting"`
	Host     string `json:"host"`
	PID      int    `json:"pid"`
}

// before orders claims: the earlier holds.
func (m claimMsg) before(o claimMsg) bool {
	if m.Since != o.Since {
		return m.Since < o.Since
	}
	return m.Token < o.Token
}

func (m claimMsg) String() string {
	return fmt.Sprintf("host %s, pid %d, claimed at %s", m.Host, m.PID, time.Unix(0, m.Since).UTC().Format(time.RFC3339Nano))
}

// claim is this process's claim of its consumer.
type claim struct {
	mu      sync.Mutex
	subject string
	me      claimMsg
	warned  map[string]bool
	// lostTo is the claim this process gave way to.
	lostTo atomic.Pointer[claimMsg]
}

// ErrInstanceTaken is in the error of Claim when another process holds
// the consumer.
var ErrInstanceTaken = errors.New("projector: another process holds this projector's consumer")

// lockDir locks the read model's directory for this process (package
// dirlock, as ingest's index store does).
func lockDir(dir string) (io.Closer, error) {
	l, err := dirlock.Lock(dir)
	if errors.Is(err, dirlock.ErrHeld) {
		return nil, fmt.Errorf("projector: the read model directory %s is in use by another process: "+
			"two projector processes on one data directory need an -instance each: %w", dir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("projector: locking the read model directory %s: %w", dir, err)
	}
	return l, nil
}

// Claim claims the projector's consumer on NATS for this process, before
// Start: it fails, with ErrInstanceTaken and an error in the log naming
// the other process, when another holds it. Once claimed, the claim is
// repeated until the projector stops.
func (p *Projector) Claim(ctx context.Context) error {
	c := &p.claim
	var tok [16]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return err
	}
	host, _ := os.Hostname()
	c.mu.Lock()
	c.subject = eventstore.ProjectorClaimSubject(p.consumer)
	c.me = claimMsg{Token: hex.EncodeToString(tok[:]), Since: time.Now().UnixNano(), Starting: true, Host: host, PID: os.Getpid()}
	c.warned = map[string]bool{}
	c.mu.Unlock()
	nc := p.opts.NC
	sub, err := nc.Subscribe(c.subject, p.onClaim)
	if err != nil {
		return fmt.Errorf("projector: claiming the consumer %s on %s: %w", p.consumer, c.subject, err)
	}
	c.mu.Lock()
	err = p.announce()
	c.mu.Unlock()
	if err == nil {
		err = nc.FlushTimeout(5 * time.Second)
	}
	if err != nil {
		// Without NATS now, the repeated claims find another process
		// later.
		p.log.Warn("projector: could not announce the claim of the consumer; it is repeated", "consumer", p.consumer, "err", err)
	}
	select {
	case <-time.After(claimWindow):
	case <-ctx.Done():
		_ = sub.Unsubscribe()
		return ctx.Err()
	}
	c.mu.Lock()
	other := c.lostTo.Load()
	if other == nil {
		c.me.Starting = false
	}
	c.mu.Unlock()
	if other != nil {
		_ = sub.Unsubscribe()
		p.log.Error("projector: another process holds this instance's consumer; refusing to start",
			"consumer", p.consumer, "instance", p.opts.Instance, "other", other.String())
		return fmt.Errorf("%w %s (%s): give each projector process an -instance of its own", ErrInstanceTaken, p.consumer, other)
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer func() { _ = sub.Unsubscribe() }()
		t := time.NewTicker(claimEvery)
		defer t.Stop()
		for {
			select {
			case <-p.ctx.Done():
				return
			case <-t.C:
			}
			c.mu.Lock()
			if c.lostTo.Load() == nil {
				_ = p.announce()
			}
			c.mu.Unlock()
		}
	}()
	return nil
}

// announce publishes this process's claim; c.mu is held.
func (p *Projector) announce() error {
	b, err := json.Marshal(p.claim.me)
	if err != nil {
		return err
	}
	return p.opts.NC.Publish(p.claim.subject, b)
}

// onClaim hears a claim of the consumer, this process's own included.
func (p *Projector) onClaim(msg *nats.Msg) {
	var other claimMsg
	if err := json.Unmarshal(msg.Data, &other); err != nil || other.Token == "" {
		return
	}
	c := &p.claim
	c.mu.Lock()
	defer c.mu.Unlock()
	if other.Token == c.me.Token || c.lostTo.Load() != nil {
		return
	}
	me := c.me
	lose := false
	switch {
	case me.Starting && !other.Starting:
		lose = true
	case me.Starting == other.Starting:
		lose = other.before(me)
	}
	if !lose {
		if !c.warned[other.Token] {
			c.warned[other.Token] = true
			p.log.Warn("projector: another process claims this instance's consumer; it gives way to this one",
				"consumer", p.consumer, "instance", p.opts.Instance, "other", other.String())
		}
		// Answer, so that it hears this claim now.
		_ = p.announce()
		return
	}
	c.lostTo.Store(&other)
	if me.Starting {
		return // Claim refuses
	}
	// Both were running: this one stops consuming, and is not ready.
	p.log.Error("projector: another process holds this instance's consumer; this one stops consuming and reports not ready",
		"consumer", p.consumer, "instance", p.opts.Instance, "other", other.String())
	go p.cancel()
}

// claimLost is the readiness error of a projector that gave way to
// another process, or nil.
func (p *Projector) claimLost() error {
	if o := p.claim.lostTo.Load(); o != nil {
		return fmt.Errorf("%w %s (%s); this process stopped consuming", ErrInstanceTaken, p.consumer, o)
	}
	return nil
}
