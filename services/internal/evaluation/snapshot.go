package evaluation

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"

	"kk.dk/jobogfamilie/events"
)

// FactsVersion names the form of the index's facts (facts.go): what
// factOf makes of each payload. An index written with another version is
// not read back (ReadIndex). TestFactsVersion fails when factOf makes
// other facts of its sample events than this version's, so that a change
// to factOf comes with a new version.
const FactsVersion = 1

// snapshotMagic begins an index written by WriteTo.
const snapshotMagic = "jf-evaluation-index\n"

// ErrSnapshotVersion: the index was written with other facts
// (FactsVersion) and must be read again from the events.
var ErrSnapshotVersion = errors.New("evaluation: the index was written with another version of the facts")

// WriteTo writes the index to w in a binary form that ReadIndex reads
// back, ending with a checksum. It holds the index's read lock while it
// writes.
func (x *Index) WriteTo(w io.Writer) (int64, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	sum := crc32.NewIEEE()
	bw := bufio.NewWriterSize(io.MultiWriter(w, sum), 1<<16)
	// n counts what is written; a failed write stays in bw (Flush).
	var n int64
	put := func(b []byte) { k, _ := bw.Write(b); n += int64(k) }
	var buf [binary.MaxVarintLen64]byte
	uv := func(v uint64) { put(buf[:binary.PutUvarint(buf[:], v)]) }
	sv := func(v int64) { put(buf[:binary.PutVarint(buf[:], v)]) }
	str := func(s string) { uv(uint64(len(s))); k, _ := bw.WriteString(s); n += int64(k) }

	put([]byte(snapshotMagic))
	uv(FactsVersion)
	uv(uint64(len(x.txt.strs)))
	for _, s := range x.txt.strs {
		str(s)
	}
	uv(uint64(len(x.txt.lists)))
	for _, l := range x.txt.lists {
		uv(uint64(len(l)))
		for _, s := range l {
			uv(uint64(x.txt.strIDs[s]))
		}
	}
	uv(uint64(len(x.families)))
	for _, f := range x.families {
		str(f.id)
		uv(uint64(len(f.evs)))
		for _, e := range f.evs {
			uv(e.seq)
			sv(e.time)
			sv(e.recorded)
			_ = bw.WriteByte(byte(e.kind))
			n++
			uv(uint64(e.a))
			uv(uint64(e.b))
			uv(uint64(e.c))
		}
		uv(uint64(len(f.side)))
		for _, d := range f.side {
			b, err := json.Marshal(d)
			if err != nil {
				return n, err
			}
			str(d.EventName())
			str(string(b))
		}
	}
	if err := bw.Flush(); err != nil {
		return n, err
	}
	var tail [4]byte
	binary.LittleEndian.PutUint32(tail[:], sum.Sum32())
	k, err := w.Write(tail[:])
	return n + int64(k), err
}

// ReadIndex reads an index that WriteTo wrote. A damaged or cut one is
// an error, and one of another FactsVersion is ErrSnapshotVersion.
func ReadIndex(r io.Reader) (*Index, error) {
	br := &sumReader{r: bufio.NewReaderSize(r, 1<<16), sum: crc32.NewIEEE()}
	var err error
	fail := func(e error) {
		if err == nil {
			err = e
		}
	}
	uv := func() uint64 {
		v, e := binary.ReadUvarint(br)
		fail(e)
		return v
	}
	sv := func() int64 {
		v, e := binary.ReadVarint(br)
		fail(e)
		return v
	}
	// count reads a length, which no honest index makes larger than the
	// room it would take to write.
	count := func() int {
		v := uv()
		if v > math.MaxInt32 {
			fail(errors.New("a length out of range"))
			return 0
		}
		return int(v)
	}
	u32 := func() uint32 {
		v := uv()
		if v > math.MaxUint32 {
			fail(errors.New("a word out of range"))
		}
		return uint32(v)
	}
	str := func() string {
		n := count()
		if err != nil {
			return ""
		}
		b := make([]byte, n)
		_, e := io.ReadFull(br, b)
		fail(e)
		return string(b)
	}
	magic := make([]byte, len(snapshotMagic))
	if _, e := io.ReadFull(br, magic); e != nil || string(magic) != snapshotMagic {
		return nil, errors.New("evaluation: not an index")
	}
	if v := uv(); err == nil && v != FactsVersion {
		return nil, fmt.Errorf("%w: %d, this build reads %d", ErrSnapshotVersion, v, FactsVersion)
	}
	x := NewIndex()
	for n := count(); n > 0 && err == nil; n-- {
		if i := len(x.txt.strs); int(x.txt.intern(str())) != i {
			fail(errors.New("a string twice"))
		}
	}
	for n := count(); n > 0 && err == nil; n-- {
		l := make([]string, count())
		for i := range l {
			if id := u32(); int(id) < len(x.txt.strs) {
				l[i] = x.txt.strs[id]
			} else {
				fail(errors.New("a list names no string"))
			}
		}
		if i := len(x.txt.lists); int(x.txt.list(l)) != i {
			fail(errors.New("a list twice"))
		}
	}
	for n := count(); n > 0 && err == nil; n-- {
		id := str()
		if _, dup := x.ids[id]; dup {
			fail(fmt.Errorf("family %q twice", id))
		}
		m := count()
		// Room for what an honest index holds; a damaged count fails at
		// the read that runs out, not at an allocation.
		f := familyEvents{id: id, evs: make([]entry, 0, min(m, 1<<16))}
		for ; m > 0 && err == nil; m-- {
			e := entry{seq: uv(), time: sv(), recorded: sv()}
			k, e2 := br.ReadByte()
			fail(e2)
			e.fact = fact{kind: kind(k), a: u32(), b: u32(), c: u32()}
			f.evs = append(f.evs, e)
		}
		for m := count(); m > 0 && err == nil; m-- {
			name, data := str(), str()
			d, e := sidePayload(name, []byte(data))
			fail(e)
			f.side = append(f.side, d)
		}
		x.ids[id] = len(x.families)
		x.order = append(x.order, len(x.families))
		x.families = append(x.families, f)
		x.n += len(f.evs)
	}
	if err != nil {
		return nil, fmt.Errorf("evaluation: reading the index: %w", err)
	}
	want := br.sum.Sum32()
	var tail [4]byte
	if _, e := io.ReadFull(br.r, tail[:]); e != nil || binary.LittleEndian.Uint32(tail[:]) != want {
		return nil, errors.New("evaluation: the index's checksum does not match")
	}
	if _, e := br.r.ReadByte(); e != io.EOF {
		return nil, errors.New("evaluation: bytes after the index")
	}
	if e := x.check(); e != nil {
		return nil, fmt.Errorf("evaluation: reading the index: %w", e)
	}
	return x, nil
}

// check tells whether every fact is of a kind and names strings, lists
// and kept payloads the index has (words), as the fold needs them.
func (x *Index) check() error {
	for _, f := range x.families {
		for _, e := range f.evs {
			if int(e.kind) >= len(words) || words[e.kind] == "" {
				return fmt.Errorf("family %q: a fact of no kind (%d)", f.id, e.kind)
			}
			for i, w := range [3]uint32{e.a, e.b, e.c} {
				var have int
				switch words[e.kind][i] {
				case 's':
					have = len(x.txt.strs)
				case 'l':
					have = len(x.txt.lists)
				case 'p':
					have = len(f.side)
				default:
					continue
				}
				if int(w) >= have {
					return fmt.Errorf("family %q: a fact of kind %d names no %c %d", f.id, e.kind, words[e.kind][i], w)
				}
			}
		}
	}
	return nil
}

// sidePayload decodes a kept payload that WriteTo wrote.
func sidePayload(name string, data []byte) (events.Payload, error) {
	var d events.Payload
	switch name {
	case "family.enrolled":
		d = &events.FamilyEnrolled{}
	case "schoolabsence.noted":
		d = &events.SchoolAbsenceNoted{}
	default:
		return nil, fmt.Errorf("a kept payload of %q", name)
	}
	return d, json.Unmarshal(data, d)
}

// sumReader reads from r, adding what it returns to sum.
type sumReader struct {
	r   *bufio.Reader
	sum hash.Hash32
	one [1]byte
}

func (s *sumReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.sum.Write(p[:n])
	return n, err
}

func (s *sumReader) ReadByte() (byte, error) {
	b, err := s.r.ReadByte()
	if err == nil {
		s.one[0] = b
		s.sum.Write(s.one[:])
	}
	return b, err
}
