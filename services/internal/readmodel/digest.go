package readmodel

// The digest of a read model and, when two digests differ, the first row
// where the models differ. Both read the tables in the same order with the
// same queries (digestTables).

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
)

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

// digestTables are the tables as the digest reads them, in its order.
var digestTables = []digestTable{
	{"checkpoint", `SELECT sequence, overviews FROM checkpoint`, 2, 0},
	{"timeline", `SELECT sequence, family_id, event_id, time_ns, recorded_ns, department, type, title, data, actor, stored_type FROM timeline ORDER BY sequence`, 11, 1},
	{"families", `SELECT family_id, status, overview, last_sequence, events, consents FROM families ORDER BY family_id`, 6, 1},
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

// digest is a SHA-256 over everything a model holds, in a fixed order:
// the checkpoint, every timeline row, every family's overview and status,
// the access table and the quarantine. Two models built from the same
// stream have the same digest, however and whenever they were built. q is
// the model's reader pool or a pinned read transaction.
func digest(ctx context.Context, q queryer) (string, error) {
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

// column is one column of a digest query, for the details.
type column struct {
	name string
	// personal: the column holds, or may hold, a family's personal data
	// in the clear, so a difference in it is told without its values.
	personal bool
	// opaque: the column's JSON member names are not held to any schema,
	// so a difference in it is not located by a JSON pointer either.
	opaque bool
}

// columns are the digest queries' columns, in their order. The personal
// ones are the timeline's title (the event's Danish title, which quotes
// its personal fields: a referral's reason, a goal's description) and
// data (the event's data with its personal fields decrypted); the
// families' overview (the referral reason, the members' personIds, the
// goals, measures and evaluations with their text) and consents (the
// personIds of who consented); and the quarantine's raw message (a
// refused message, whose personal fields may be in the clear) and
// reason (the words refusing it, which may quote it), whose member names
// no schema holds, so it is opaque. The others are sequences, times,
// counts, ids (family, event, employee), departments, types, statuses,
// the NATS subject and the actor (the event's source attribute, which is
// stored in the clear, held to the content rules like every attribute):
// they are quoted.
var columns = map[string][]column{
	"checkpoint": {{name: "sequence"}, {name: "overviews"}},
	"timeline": {{name: "sequence"}, {name: "family_id"}, {name: "event_id"}, {name: "time_ns"}, {name: "recorded_ns"},
		{name: "department"}, {name: "type"}, {name: "title", personal: true}, {name: "data", personal: true},
		{name: "actor"}, {name: "stored_type"}},
	"families": {{name: "family_id"}, {name: "status"}, {name: "overview", personal: true}, {name: "last_sequence"},
		{name: "events"}, {name: "consents", personal: true}},
	"access":     {{name: "family_id"}, {name: "employee_id"}},
	"quarantine": {{name: "sequence"}, {name: "subject"}, {name: "reason", personal: true, opaque: true}, {name: "raw", personal: true, opaque: true}, {name: "recorded_ns"}},
}

// columnDiff says how column i of a row differs between the models. Verify's
// answer is not logged as a read of a family's data, so for a personal
// column it gives, for each side, only the length and a keyed hash (an
// auditor sees that and where the sides differ, not what they hold); the
// JSON pointer within a personal column is made of the member names its
// schema fixes and array indices.
func columnDiff(t digestTable, i int, live, replay []byte) string {
	col := columns[t.tag][i]
	if col.personal {
		const withheld = "; personal data, values not shown"
		if !col.opaque {
			if ptr, lv, rv, ok := jsonDiff(live, replay); ok {
				return fmt.Sprintf("%s differs at %s: live %s, replay %s%s", col.name, ptr, fingerprint(lv), fingerprint(rv), withheld)
			}
		}
		return fmt.Sprintf("%s differs: live %s, replay %s%s", col.name, fingerprint(string(live)), fingerprint(string(replay)), withheld)
	}
	if ptr, lv, rv, ok := jsonDiff(live, replay); ok {
		return fmt.Sprintf("%s differs at %s: live %s, replay %s", col.name, ptr, clip(lv), clip(rv))
	}
	return fmt.Sprintf("%s differs: live %s, replay %s", col.name, clip(strconv.Quote(string(live))), clip(strconv.Quote(string(replay))))
}

// fingerprintKey keys fingerprint's hash. It is drawn once per process, so
// that a short value (a birth year, a status, a personId) cannot be found
// by hashing guesses; fingerprints compare within one process's answers.
var fingerprintKey = sync.OnceValue(func() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k) // crypto/rand.Read never fails (it panics instead)
	return k
})

// fingerprint stands for a personal value in a difference: its length in
// bytes and the first 8 hex digits of its HMAC-SHA256 under fingerprintKey.
// A JSON value jsonDiff found absent stays "(absent)".
func fingerprint(v string) string {
	if v == absent {
		return v
	}
	m := hmac.New(sha256.New, fingerprintKey())
	m.Write([]byte(v))
	unit := "bytes"
	if len(v) == 1 {
		unit = "byte"
	}
	return fmt.Sprintf("%d %s #%s", len(v), unit, hex.EncodeToString(m.Sum(nil)[:4]))
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

// absent is jsonDiff's value for a member or element one side lacks.
const absent = "(absent)"

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
			return absent
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
