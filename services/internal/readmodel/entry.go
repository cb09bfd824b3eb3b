package readmodel

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"kk.dk/jobogfamilie/services/internal/shred"
	"strconv"
	"time"
	"unicode/utf8"
)

// Entry is one timeline entry as the coordinator API serves it.
type Entry struct {
	ID         string          `json:"id"`
	Sequence   uint64          `json:"sequence"`
	Time       time.Time       `json:"time"`
	RecordedAt time.Time       `json:"recordedAt"`
	Department string          `json:"department"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Data       json.RawMessage `json:"data"`
	Actor      string          `json:"actor"`
	// StoredType is the CloudEvents type as stored when the event was
	// stored as an earlier version of Type (Type and Data are the
	// latest version's); absent otherwise.
	StoredType string `json:"storedType,omitempty"`
	// Erased is set for an erased family's event that had personal
	// fields; ErasedFields names them (they read as "[slettet]").
	Erased       bool     `json:"erased,omitempty"`
	ErasedFields []string `json:"erasedFields,omitempty"`
}

// markErased sets Erased and ErasedFields from the entry's data.
func (e *Entry) markErased() {
	e.ErasedFields = shred.ErasedFields(e.Type, e.Data)
	e.Erased = len(e.ErasedFields) > 0
}

// dataChunk is the size of the buffers scanEntries copies the rows'
// data into, when it reads more rows than maxSized or does not know how
// many: one allocation for many rows. A read of at most maxSized rows (a
// page) allocates each row's data at its size, and its entries at once:
// a page of 100 entries then allocates about half what a 64 KiB chunk
// and a growing slice take, and the garbage collector runs as much less
// often.
const (
	dataChunk = 64 << 10
	maxSized  = MaxLimit + 1
)

// scanEntries reads timeline rows into entries. With batch set, it
// hands the rows to batch foldBatch at a time, each batch a slice of its
// own, and returns none. The data of the rows is copied into shared
// buffers rather than one allocation a row.
func scanEntries(rows *sql.Rows, batch func([]Entry), size int) ([]Entry, error) {
	defer rows.Close()
	entries := []Entry{}
	switch {
	case batch != nil:
		entries = make([]Entry, 0, foldBatch)
	case size > 0:
		entries = make([]Entry, 0, min(size, maxSized))
	}
	// Declared once: what Scan writes into escapes to the heap.
	var (
		e        Entry
		seq      int64
		tns, rns int64
		raw      sql.RawBytes
		chunk    []byte
	)
	for rows.Next() {
		e = Entry{}
		if err := rows.Scan(&seq, &e.ID, &tns, &rns, &e.Department, &e.Type, &e.Title, &raw, &e.Actor, &e.StoredType); err != nil {
			return nil, err
		}
		e.Sequence = uint64(seq)
		e.Time = time.Unix(0, tns).UTC()
		e.RecordedAt = time.Unix(0, rns).UTC()
		if batch == nil && size > 0 && size <= maxSized {
			e.Data = json.RawMessage(bytes.Clone(raw))
		} else {
			if cap(chunk)-len(chunk) < len(raw) || chunk == nil {
				chunk = make([]byte, 0, max(dataChunk, len(raw)))
			}
			from := len(chunk)
			chunk = append(chunk, raw...)
			e.Data = json.RawMessage(chunk[from:len(chunk):len(chunk)])
		}
		e.markErased()
		entries = append(entries, e)
		if batch != nil && len(entries) == foldBatch {
			batch(entries)
			entries = make([]Entry, 0, foldBatch)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if batch != nil {
		if len(entries) > 0 {
			batch(entries)
		}
		return nil, nil
	}
	return entries, nil
}

// entryJSONSize is the size of an entry's encoding at most, unless one
// of its strings needs escaping.
func entryJSONSize(e *Entry) int {
	// The member names, quotes and punctuation are 103 bytes, two times
	// at most 35, a sequence at most 20, and data at least 4 (null).
	n := len(e.ID) + len(e.Title) + len(e.Data) + len(e.Actor) + len(e.Type) + len(e.Department) + 197 + len(e.StoredType) + 16
	for _, f := range e.ErasedFields {
		n += len(f) + 3
	}
	if e.Erased {
		n += 32
	}
	return n
}

// appendEntry appends e as a JSON object with the fields json.Marshal
// gives it.
func appendEntry(dst []byte, e *Entry) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, e.ID)
	dst = append(dst, `,"sequence":`...)
	dst = strconv.AppendUint(dst, e.Sequence, 10)
	dst = append(dst, `,"time":"`...)
	dst = e.Time.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","recordedAt":"`...)
	dst = e.RecordedAt.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","department":`...)
	dst = appendString(dst, e.Department)
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, e.Type)
	dst = append(dst, `,"title":`...)
	dst = appendString(dst, e.Title)
	dst = append(dst, `,"data":`...)
	if len(e.Data) == 0 {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, e.Data...)
	}
	dst = append(dst, `,"actor":`...)
	dst = appendString(dst, e.Actor)
	if e.StoredType != "" {
		dst = append(dst, `,"storedType":`...)
		dst = appendString(dst, e.StoredType)
	}
	if e.Erased {
		dst = append(dst, `,"erased":true,"erasedFields":[`...)
		for i, f := range e.ErasedFields {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, f)
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

// plainJSON[c] is set for the ASCII bytes json.Marshal writes unescaped.
var plainJSON = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendString appends s as a JSON string. Valid UTF-8 without characters
// that need escaping is copied, after one pass over it; anything else goes
// through json.Marshal.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if !plainJSON[c] {
				return appendMarshalled(dst, s)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || r == '\u2028' || r == '\u2029' {
			// Invalid UTF-8, or a JavaScript line terminator, which
			// json.Marshal escapes.
			return appendMarshalled(dst, s)
		}
		i += n
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

func appendMarshalled(dst []byte, s string) []byte {
	b, _ := json.Marshal(s)
	return append(dst, b...)
}
