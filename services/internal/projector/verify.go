package projector

// Verification for the audit service: replay the stream into a fresh
// temporary model with the projector's own code and compare it with the
// live model at the same sequence.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/services/internal/eventstore"
)

// VerifyOptions configure a verification.
type VerifyOptions struct {
	// Dir is where the temporary model is built; it is removed afterwards.
	// Empty is the system's temporary directory.
	Dir string
	// BatchSize is the most messages applied in one transaction.
	BatchSize int
	// Progress, when set, is called as the replay advances.
	Progress func(VerifyProgress)
}

// Verification phases, in order.
const (
	PhasePin    = "pin"    // taking the live model's snapshot
	PhaseReplay = "replay" // replaying the stream into the temporary model
	PhaseDigest = "digest" // digesting both models
	PhaseDiff   = "diff"   // looking for the first difference
	PhaseDone   = "done"
)

// VerifyProgress is where a verification is.
type VerifyProgress struct {
	Phase   string `json:"phase"`
	Applied uint64 `json:"applied"`
	Target  uint64 `json:"target"`
}

// VerifyResult is the outcome: the digests of both models at the same
// stream sequence and, when they differ, the first difference.
type VerifyResult struct {
	// Events is the number of stream messages replayed: the live model's
	// checkpoint (sequences are consecutive; the stream denies deletes).
	Events          uint64      `json:"events"`
	Live            string      `json:"live"`
	Replay          string      `json:"replay"`
	Match           bool        `json:"match"`
	FirstDifference *Difference `json:"firstDifference,omitempty"`
}

// Difference names the first row where the live model and the replay
// differ, in the digest's order: checkpoint, timeline (by sequence),
// families (by id), access (by family and employee), quarantine.
type Difference struct {
	Table      string `json:"table"`
	FamilyID   string `json:"familyId,omitempty"`
	Sequence   uint64 `json:"sequence,omitempty"`
	EventID    string `json:"eventId,omitempty"`
	EmployeeID string `json:"employeeId,omitempty"`
	Detail     string `json:"detail"`
}

// Verify pins the live model at its checkpoint (one SQLite read
// transaction holds the checkpoint and every row the digest reads),
// replays the stream exactly up to that checkpoint into a fresh model in
// o.Dir with the projector's own decode and apply code, and compares the
// digests; on a mismatch it walks both models to the first difference.
// The live model keeps applying meanwhile; the pin only holds its snapshot.
func (v *AuditView) Verify(ctx context.Context, js jetstream.JetStream, o VerifyOptions) (VerifyResult, error) {
	report(o, VerifyProgress{Phase: PhasePin})
	// The apply lock first, then the model: the order Projector.Close
	// takes them in. Under the lock the model acquired is the live one (a
	// rebuild swaps under it, and only Close retires the live model).
	unlock := v.src.lockApply()
	m, release, err := v.src.acquire()
	if err != nil {
		unlock()
		return VerifyResult{}, err
	}
	snap, cp, err := v.pin(ctx, m)
	unlock()
	if err != nil {
		release()
		return VerifyResult{}, err
	}
	defer release()
	defer func() { _ = snap.Rollback() }()
	return verifySnapshot(ctx, js, snap, cp, o)
}

// pin takes a read transaction on m, the live model, whose first read
// happens while the caller holds the applier between two batches, after a
// flush: its snapshot is a model consistent up to its checkpoint.
func (v *AuditView) pin(ctx context.Context, m *readModel) (*sql.Tx, uint64, error) {
	if m.consistent < m.checkpoint {
		res, err := m.apply(ctx, nil, applyOptions{flush: true})
		if err != nil {
			return nil, 0, fmt.Errorf("projector: flush before verify: %w", err)
		}
		v.src.setApplied(res.consistent)
	}
	tx, err := m.rdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, 0, err
	}
	var cp, consistent int64
	if err := tx.QueryRowContext(ctx, `SELECT sequence, overviews FROM checkpoint WHERE id = 1`).Scan(&cp, &consistent); err != nil {
		_ = tx.Rollback()
		return nil, 0, err
	}
	if cp != consistent {
		_ = tx.Rollback()
		return nil, 0, fmt.Errorf("projector: the pinned model is at %d but consistent only to %d", cp, consistent)
	}
	return tx, uint64(cp), nil
}

// VerifyFile verifies a read model file that another process (a running
// projector) owns, opened read-only: the snapshot is taken at a moment
// when the file is consistent up to its checkpoint, which it is after
// every flush; the wait for one is bounded.
func VerifyFile(ctx context.Context, js jetstream.JetStream, path string, o VerifyOptions) (VerifyResult, error) {
	report(o, VerifyProgress{Phase: PhasePin})
	if _, err := os.Stat(path); err != nil {
		return VerifyResult{}, fmt.Errorf("projector: read model: %w", err)
	}
	db, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return VerifyResult{}, err
	}
	defer db.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return VerifyResult{}, err
		}
		var cp, consistent int64
		if err := tx.QueryRowContext(ctx, `SELECT sequence, overviews FROM checkpoint WHERE id = 1`).Scan(&cp, &consistent); err != nil {
			_ = tx.Rollback()
			return VerifyResult{}, fmt.Errorf("projector: %s is not a read model: %w", path, err)
		}
		if cp == consistent {
			defer func() { _ = tx.Rollback() }()
			return verifySnapshot(ctx, js, tx, uint64(cp), o)
		}
		_ = tx.Rollback()
		if time.Now().After(deadline) {
			return VerifyResult{}, fmt.Errorf("projector: %s stayed between two flushes (at %d, consistent to %d) for 30s", path, cp, consistent)
		}
		select {
		case <-ctx.Done():
			return VerifyResult{}, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ResolveModel finds the read model a projector data directory names:
// <data>/projector/CURRENT, or the file itself when path is one.
func ResolveModel(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		return path, nil
	}
	dir := filepath.Join(path, "projector")
	if _, err := os.Stat(dir); err != nil {
		dir = path
	}
	n, err := currentModel(dir)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, modelName(n)), nil
}

func report(o VerifyOptions, p VerifyProgress) {
	if o.Progress != nil {
		o.Progress(p)
	}
}

// verifySnapshot replays up to cp and compares with the pinned snapshot.
func verifySnapshot(ctx context.Context, js jetstream.JetStream, live *sql.Tx, cp uint64, o VerifyOptions) (VerifyResult, error) {
	dir := o.Dir
	if dir == "" {
		dir = os.TempDir()
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return VerifyResult{}, err
	}
	tmp, err := os.MkdirTemp(dir, "verify-*")
	if err != nil {
		return VerifyResult{}, err
	}
	defer os.RemoveAll(tmp)

	// The live digest reads the pinned snapshot while the replay writes
	// another file: the two overlap.
	type digestResult struct {
		sum string
		err error
	}
	liveDigest := make(chan digestResult, 1)
	go func() {
		s, err := digestOf(ctx, live)
		liveDigest <- digestResult{s, err}
	}()
	waitLive := func() (string, error) {
		r := <-liveDigest
		return r.sum, r.err
	}

	rm, err := replayModel(ctx, js, filepath.Join(tmp, "replay.db"), cp, o)
	if err != nil {
		_, _ = waitLive()
		return VerifyResult{}, err
	}
	defer rm.close()
	report(o, VerifyProgress{Phase: PhaseDigest, Applied: cp, Target: cp})
	replaySum, err := digestOf(ctx, rm.rdb)
	if err != nil {
		_, _ = waitLive()
		return VerifyResult{}, err
	}
	liveSum, err := waitLive()
	if err != nil {
		return VerifyResult{}, err
	}
	res := VerifyResult{Events: cp, Live: liveSum, Replay: replaySum, Match: liveSum == replaySum}
	if !res.Match {
		report(o, VerifyProgress{Phase: PhaseDiff, Applied: cp, Target: cp})
		if res.FirstDifference, err = firstDifference(ctx, live, rm.rdb); err != nil {
			return res, err
		}
		if res.FirstDifference == nil {
			res.FirstDifference = &Difference{Detail: "the digests differ but no row does; the digest encodings disagree"}
		}
	}
	report(o, VerifyProgress{Phase: PhaseDone, Applied: cp, Target: cp})
	return res, nil
}

// replayModel builds a fresh model at path from stream sequence 1 exactly
// up to target, the way a rebuild does: an ordered consumer, the
// projector's batch reader and decoder, and readModel.apply. The timeline
// indexes are never built, because the digest does not use them.
func replayModel(ctx context.Context, js jetstream.JetStream, path string, target uint64, o VerifyOptions) (*readModel, error) {
	batch := o.BatchSize
	if batch <= 0 {
		batch = DefaultBatchSize
	}
	m, err := openModel(ctx, path)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			m.close()
		}
	}()
	report(o, VerifyProgress{Phase: PhaseReplay, Target: target})
	if target == 0 {
		ok = true
		return m, nil
	}
	if err := m.setBulk(ctx, true); err != nil {
		return nil, err
	}
	stream, err := js.Stream(ctx, eventstore.FamilyStream)
	if err != nil {
		return nil, fmt.Errorf("projector: verify: stream: %w", err)
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return nil, fmt.Errorf("projector: verify: consumer: %w", err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(8 * batch))
	if err != nil {
		return nil, fmt.Errorf("projector: verify: messages: %w", err)
	}
	defer it.Stop()
	var fl flusher
	first := true
	last := time.Now()
	for m.checkpoint < target {
		b, err := readBatch(ctx, it, batch)
		if len(b) == 0 {
			if err == nil {
				err = errors.New("no messages")
			}
			return nil, fmt.Errorf("projector: verify: fetch: %w", err)
		}
		k := 0
		for k < len(b) && b[k].seq <= target {
			k++
		}
		if k == 0 {
			if b[0].seq <= m.checkpoint {
				continue
			}
			return nil, fmt.Errorf("projector: verify: the stream skips from %d to %d", m.checkpoint, b[0].seq)
		}
		// With the indexes dropped the flusher flushes only when many
		// families wait; the final flush below writes the rest.
		if _, err := m.apply(ctx, b[:k], applyOptions{allowGap: first, flush: fl.due(m, false)}); err != nil {
			return nil, fmt.Errorf("projector: verify: %w", err)
		}
		first = false
		if time.Since(last) >= 200*time.Millisecond || m.checkpoint >= target {
			report(o, VerifyProgress{Phase: PhaseReplay, Applied: m.checkpoint, Target: target})
			last = time.Now()
		}
	}
	if _, err := m.apply(ctx, nil, applyOptions{flush: true}); err != nil {
		return nil, fmt.Errorf("projector: verify: %w", err)
	}
	if m.checkpoint != target || m.consistent != target {
		return nil, fmt.Errorf("projector: verify: replay at %d (consistent %d), not at %d", m.checkpoint, m.consistent, target)
	}
	ok = true
	return m, nil
}

// queryer is a *sql.DB or a *sql.Tx.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// digestTable is one table as the digest reads it; keys is how many of
// the leading columns identify a row.
type digestTable struct {
	tag  string
	sql  string
	cols int
	keys int
}

// digestTables are readModel.digest's queries, in its order, so that
// digestOf agrees with Projector.Digest (a test holds them to it).
var digestTables = []digestTable{
	{"checkpoint", `SELECT sequence, overviews FROM checkpoint`, 2, 0},
	{"timeline", `SELECT sequence, family_id, event_id, time_ns, recorded_ns, department, type, title, data, actor FROM timeline ORDER BY sequence`, 10, 1},
	{"families", `SELECT family_id, status, overview, last_sequence, events FROM families ORDER BY family_id`, 5, 1},
	{"access", `SELECT family_id, employee_id FROM family_access ORDER BY family_id, employee_id`, 2, 2},
	{"quarantine", `SELECT sequence, subject, reason, raw, recorded_ns FROM quarantine ORDER BY sequence`, 5, 1},
}

// encodeValue is the digest's encoding of one column value.
func encodeValue(v any) []byte {
	switch x := v.(type) {
	case int64:
		return strconv.AppendInt(nil, x, 10)
	case string:
		return []byte(x)
	case []byte:
		return x
	default:
		return fmt.Append(nil, x)
	}
}

// digestOf is readModel.digest over any queryer, so that it can read a
// pinned read transaction.
func digestOf(ctx context.Context, q queryer) (string, error) {
	h := sha256.New()
	var n [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	for _, t := range digestTables {
		field([]byte(t.tag))
		rows, err := q.QueryContext(ctx, t.sql)
		if err != nil {
			return "", err
		}
		vals := make([]any, t.cols)
		ptrs := make([]any, t.cols)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return "", err
			}
			for _, v := range vals {
				field(encodeValue(v))
			}
		}
		if err := rows.Close(); err != nil {
			return "", err
		}
		if err := rows.Err(); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// rowCursor walks one table of one model.
type rowCursor struct {
	rows *sql.Rows
	vals []any
	ok   bool
	err  error
}

func openCursor(ctx context.Context, q queryer, t digestTable) (*rowCursor, error) {
	rows, err := q.QueryContext(ctx, t.sql)
	if err != nil {
		return nil, err
	}
	c := &rowCursor{rows: rows, vals: make([]any, t.cols)}
	c.next()
	return c, c.err
}

func (c *rowCursor) next() {
	c.ok = c.rows.Next()
	if !c.ok {
		c.err = c.rows.Err()
		return
	}
	ptrs := make([]any, len(c.vals))
	vals := make([]any, len(c.vals))
	for i := range ptrs {
		ptrs[i] = &vals[i]
	}
	if c.err = c.rows.Scan(ptrs...); c.err != nil {
		c.ok = false
		return
	}
	c.vals = vals
}

// compareKeys orders two rows by their key columns the way SQLite's ORDER
// BY does: integers by value, text bytewise.
func compareKeys(a, b []any, keys int) int {
	for i := range keys {
		x, y := a[i], b[i]
		xi, xok := x.(int64)
		yi, yok := y.(int64)
		if xok && yok {
			if xi != yi {
				if xi < yi {
					return -1
				}
				return 1
			}
			continue
		}
		if c := bytes.Compare(encodeValue(x), encodeValue(y)); c != 0 {
			return c
		}
	}
	return 0
}

// firstDifference walks both models table by table in the digest's order
// and describes the first row that is missing on one side or differs.
func firstDifference(ctx context.Context, live, replay queryer) (*Difference, error) {
	for _, t := range digestTables {
		lc, err := openCursor(ctx, live, t)
		if err != nil {
			return nil, err
		}
		rc, err := openCursor(ctx, replay, t)
		if err != nil {
			lc.rows.Close()
			return nil, err
		}
		d, err := walkTable(t, lc, rc)
		lc.rows.Close()
		rc.rows.Close()
		if err != nil || d != nil {
			return d, err
		}
	}
	return nil, nil
}

func walkTable(t digestTable, lc, rc *rowCursor) (*Difference, error) {
	for lc.ok || rc.ok {
		switch {
		case lc.ok && rc.ok:
			c := compareKeys(lc.vals, rc.vals, t.keys)
			switch {
			case c < 0:
				return describe(t, lc.vals, "is in the live read model but not in the replay: the stream does not explain it"), nil
			case c > 0:
				return describe(t, rc.vals, "is missing from the live read model"), nil
			}
			for i := range lc.vals {
				lv, rv := encodeValue(lc.vals[i]), encodeValue(rc.vals[i])
				if !bytes.Equal(lv, rv) {
					return describe(t, lc.vals, columnDiff(t, i, lv, rv)), nil
				}
			}
			lc.next()
			rc.next()
		case lc.ok:
			return describe(t, lc.vals, "is in the live read model but not in the replay: the stream does not explain it"), nil
		default:
			return describe(t, rc.vals, "is missing from the live read model"), nil
		}
	}
	if lc.err != nil {
		return nil, lc.err
	}
	return nil, rc.err
}

// columnNames are the digest queries' columns, for the details.
var columnNames = map[string][]string{
	"checkpoint": {"sequence", "overviews"},
	"timeline":   {"sequence", "family_id", "event_id", "time_ns", "recorded_ns", "department", "type", "title", "data", "actor"},
	"families":   {"family_id", "status", "overview", "last_sequence", "events"},
	"access":     {"family_id", "employee_id"},
	"quarantine": {"sequence", "subject", "reason", "raw", "recorded_ns"},
}

func columnDiff(t digestTable, i int, live, replay []byte) string {
	col := columnNames[t.tag][i]
	if ptr, lv, rv, ok := jsonDiff(live, replay); ok {
		return fmt.Sprintf("%s differs at %s: live %s, replay %s", col, ptr, clip(lv), clip(rv))
	}
	return fmt.Sprintf("%s differs: live %s, replay %s", col, clip(strconv.Quote(string(live))), clip(strconv.Quote(string(replay))))
}

func clip(s string) string {
	if len(s) > 160 {
		return s[:160] + "…"
	}
	return s
}

func describe(t digestTable, vals []any, what string) *Difference {
	str := func(i int) string { return string(encodeValue(vals[i])) }
	seq := func(i int) uint64 {
		n, _ := vals[i].(int64)
		return uint64(n)
	}
	d := &Difference{Table: t.tag}
	switch t.tag {
	case "checkpoint":
		d.Detail = "the checkpoint row " + what
		return d
	case "timeline":
		d.Sequence, d.FamilyID, d.EventID = seq(0), str(1), str(2)
		d.Detail = fmt.Sprintf("timeline entry %d (event %s of family %s) %s", d.Sequence, d.EventID, d.FamilyID, what)
	case "families":
		d.FamilyID = str(0)
		d.Detail = fmt.Sprintf("the overview row of family %s %s", d.FamilyID, what)
	case "access":
		d.FamilyID, d.EmployeeID = str(0), str(1)
		d.Detail = fmt.Sprintf("the access of employee %s to family %s %s", d.EmployeeID, d.FamilyID, what)
	case "quarantine":
		d.Sequence = seq(0)
		d.Detail = fmt.Sprintf("quarantined message %d (subject %s) %s", d.Sequence, str(1), what)
	}
	return d
}

// jsonDiff finds the first JSON pointer at which two JSON documents
// differ, with both values there; ok is false unless both are JSON.
func jsonDiff(a, b []byte) (ptr, av, bv string, ok bool) {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return "", "", "", false
	}
	p, xv, yv, differ := firstJSONDiff("", x, y)
	if !differ {
		return "", "", "", false
	}
	enc := func(v any) string {
		if v == nil {
			return "(absent)"
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	if p == "" {
		p = "/"
	}
	return p, enc(xv), enc(yv), true
}

func firstJSONDiff(ptr string, x, y any) (string, any, any, bool) {
	switch xv := x.(type) {
	case map[string]any:
		yv, ok := y.(map[string]any)
		if !ok {
			return ptr, x, y, true
		}
		keys := make([]string, 0, len(xv)+len(yv))
		for k := range xv {
			keys = append(keys, k)
		}
		for k := range yv {
			if _, ok := xv[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			if p, a, b, d := firstJSONDiff(ptr+"/"+k, xv[k], yv[k]); d {
				return p, a, b, true
			}
		}
		return "", nil, nil, false
	case []any:
		yv, ok := y.([]any)
		if !ok {
			return ptr, x, y, true
		}
		for i := range max(len(xv), len(yv)) {
			var a, b any
			if i < len(xv) {
				a = xv[i]
			}
			if i < len(yv) {
				b = yv[i]
			}
			if p, a, b, d := firstJSONDiff(ptr+"/"+strconv.Itoa(i), a, b); d {
				return p, a, b, true
			}
		}
		return "", nil, nil, false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	if !bytes.Equal(xb, yb) {
		return ptr, x, y, true
	}
	return "", nil, nil, false
}
