package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/durable"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/shred"
)

// The files of an export archive.
const (
	EventsFile   = "events.jsonl"
	ChainFile    = "events.chain"
	ManifestFile = "manifest.json"
)

// ExportFormat names the archive format in its manifest. In format 2 the
// lines of events.jsonl are replay lines, CloudEvents with the stream
// sequence in jfsequence; VerifyExport also checks archives of format 1,
// whose lines had it in "sequence".
const ExportFormat = "jobogfamilie-audit-export/2"

const exportFormat1 = "jobogfamilie-audit-export/1"

// ChainAlgorithm describes the hash chain in the manifest, so that anyone
// can check an archive without this program.
const ChainAlgorithm = "sha256-chain: h0 = 32 zero bytes; h_i = SHA-256(h_(i-1) || line_i), line_i being line i of " +
	EventsFile + " without its newline; " + ChainFile + " holds hex(h_i) on line i"

// DefaultLinkEvery is how often the manifest records a link of the chain.
const DefaultLinkEvery = 1000

// Manifest is manifest.json: what the archive holds and the end of its
// hash chain. Keep the final hash somewhere else too (a case file, a
// signed mail): whoever can rewrite every file of the archive can also
// rewrite the manifest.
type Manifest struct {
	Format        string `json:"format"`
	Stream        string `json:"stream"`
	Count         uint64 `json:"count"`
	FirstSequence uint64 `json:"firstSequence"`
	LastSequence  uint64 `json:"lastSequence"`
	// Family, when set, is the one family whose events the archive
	// holds: its lines keep their stream sequences, ascending with gaps
	// (the other families' events), from FirstSequence to LastSequence.
	Family    string    `json:"family,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	Chain     Chain     `json:"chain"`
}

// Chain is the hash chain over the lines of events.jsonl.
type Chain struct {
	Algorithm string `json:"algorithm"`
	Final     string `json:"final"`
	// Every is the distance between two recorded links.
	Every int    `json:"every"`
	Links []Link `json:"links"`
}

// Link is h_Line, the chain after line Line (1-based).
type Link struct {
	Line     uint64 `json:"line"`
	Sequence uint64 `json:"sequence"`
	Hash     string `json:"hash"`
}

// chain is a running hash chain.
type chain struct {
	h [sha256.Size]byte
}

func (c *chain) add(line []byte) {
	s := sha256.New()
	s.Write(c.h[:])
	s.Write(line)
	s.Sum(c.h[:0])
}

func (c *chain) hex() string { return hex.EncodeToString(c.h[:]) }

// ExportOptions configure Export.
type ExportOptions struct {
	// FromSeq and ToSeq bound the range (inclusive); 0 is the stream's
	// first and last sequence.
	FromSeq, ToSeq uint64
	// LinkEvery is how often the manifest records a link; 0 is
	// DefaultLinkEvery.
	LinkEvery int
	// Progress, when set, is called about once a second and at the end.
	Progress func(ExportProgress)
	// Keys, when set, decrypt the personal fields as a replay does (an
	// erased family's read as the tombstone, named in jferased); without,
	// encrypted events are written as unreadable lines, as stored, with
	// jfreason saying why.
	Keys *shred.Keyring
	// Family, when set, exports only that family's events (the archive
	// of a family before its erasure); the range still bounds them.
	Family string
	// Plaintext, when set, makes Export fail, with ErrCiphertext naming
	// the sequence, at the first event whose personal fields Keys do not
	// open, rather than write it as an unreadable line: the archive made
	// before an erasure must hold the plaintext the erasure removes.
	Plaintext bool
}

// ExportProgress is how far an export has come. Of a whole range, every
// stream position is a line: Written and Scanned are equal. Of a family,
// Written counts the family's events, Scanned the stream positions its
// filtered read has passed, the other families' included.
type ExportProgress struct {
	// Written is the lines written to events.jsonl.
	Written uint64
	// Scanned is the stream positions of the range read through, of
	// Positions, the range's size.
	Scanned, Positions uint64
}

// ErrCiphertext: an export with Plaintext met an event it cannot
// decrypt, or an archive holds such an event's unreadable line.
var ErrCiphertext = errors.New("the event's personal fields do not decrypt: the archive would hold ciphertext, not the plaintext")

// Export writes an archive of a range of FAMILY_EVENTS to dir: events.jsonl
// (the lines of a replay), events.chain and manifest.json, written last:
// an archive without a manifest is incomplete.
func Export(ctx context.Context, js jetstream.JetStream, dir string, o ExportOptions) (Manifest, error) {
	if o.LinkEvery <= 0 {
		o.LinkEvery = DefaultLinkEvery
	}
	stream, err := js.Stream(ctx, eventstore.FamilyStream)
	if err != nil {
		return Manifest{}, fmt.Errorf("audit: export: %w", err)
	}
	state := stream.CachedInfo().State
	from, to := max(o.FromSeq, state.FirstSeq, 1), state.LastSeq
	if o.ToSeq > 0 {
		if o.ToSeq > state.LastSeq {
			return Manifest{}, fmt.Errorf("audit: export: -to-seq %d is beyond the stream's last sequence %d", o.ToSeq, state.LastSeq)
		}
		to = o.ToSeq
	}
	if from > to {
		return Manifest{}, fmt.Errorf("audit: export: empty range %d..%d (the stream holds %d..%d)", from, to, state.FirstSeq, state.LastSeq)
	}
	if o.Family != "" && !events.ValidID(o.Family) {
		return Manifest{}, fmt.Errorf("audit: export: family %q is not an id (%s)", o.Family, events.IDPattern)
	}
	// An archive holds family data, in the clear when decrypted with the
	// master key: only its owner reads it, as the read model's files.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Manifest{}, err
	}
	if _, err := os.Stat(filepath.Join(dir, ManifestFile)); err == nil {
		return Manifest{}, fmt.Errorf("audit: export: %s already holds an archive", dir)
	}
	// One made beforehand for the archive too (empty, or holding what an
	// interrupted export left). A directory that holds anything else
	// (-out . or /tmp) keeps its mode: the archive's files are the
	// owner's alone all the same.
	if own, err := archiveOnly(dir); err != nil {
		return Manifest{}, err
	} else if own {
		if err := os.Chmod(dir, 0o700); err != nil {
			return Manifest{}, err
		}
	}
	ev, err := createPrivate(filepath.Join(dir, EventsFile))
	if err != nil {
		return Manifest{}, err
	}
	defer ev.Close()
	ch, err := createPrivate(filepath.Join(dir, ChainFile))
	if err != nil {
		return Manifest{}, err
	}
	defer ch.Close()
	evw, chw := bufio.NewWriterSize(ev, 256<<10), bufio.NewWriterSize(ch, 64<<10)

	m := Manifest{Format: ExportFormat, Stream: eventstore.FamilyStream, FirstSequence: from, LastSequence: to,
		Family: o.Family, Chain: Chain{Algorithm: ChainAlgorithm, Every: o.LinkEvery, Links: []Link{}}}
	var (
		c        chain
		line     []byte
		expected = from
		total    = to - from + 1
		tick     = time.Now()
	)
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from}
	if o.Family != "" {
		cfg.FilterSubjects = []string{events.FamilyFilter(o.Family)}
	}
	err = scan(ctx, js, eventstore.FamilyStream, cfg, to, func(s Stored) (bool, error) {
		switch {
		case o.Family != "" && s.Sequence < expected:
			return false, fmt.Errorf("audit: export: the stream goes back from %d to %d", expected, s.Sequence)
		case o.Family != "":
			if m.Count == 0 {
				m.FirstSequence = s.Sequence
			}
			m.LastSequence = s.Sequence
		case s.Sequence != expected:
			return false, fmt.Errorf("audit: export: the stream skips from %d to %d", expected, s.Sequence)
		}
		expected = s.Sequence + 1
		open(ctx, o.Keys, &s)
		if o.Plaintext && s.Unreadable != "" {
			return false, fmt.Errorf("audit: export: sequence %d (%s): %w: %s", s.Sequence, s.Subject, ErrCiphertext, s.Unreadable)
		}
		line = AppendLine(line[:0], s)
		if _, err := evw.Write(line); err != nil {
			return false, err
		}
		c.add(line[:len(line)-1])
		m.Count++
		if _, err := fmt.Fprintln(chw, c.hex()); err != nil {
			return false, err
		}
		if m.Count%uint64(o.LinkEvery) == 0 {
			m.Chain.Links = append(m.Chain.Links, Link{Line: m.Count, Sequence: s.Sequence, Hash: c.hex()})
		}
		if o.Progress != nil && time.Since(tick) >= time.Second {
			o.Progress(ExportProgress{Written: m.Count, Scanned: s.Sequence - from + 1, Positions: total})
			tick = time.Now()
		}
		return true, nil
	})
	switch {
	case err != nil:
	case o.Family != "" && m.Count == 0:
		err = fmt.Errorf("audit: export: the stream holds no event of family %s in %d..%d", o.Family, from, to)
	case o.Family == "" && m.Count != total:
		err = fmt.Errorf("audit: export: read %d messages of %d..%d", m.Count, from, to)
	}
	if err != nil {
		return Manifest{}, err
	}
	for _, f := range []struct {
		w *bufio.Writer
		f *os.File
	}{{evw, ev}, {chw, ch}} {
		if err := f.w.Flush(); err != nil {
			return Manifest{}, err
		}
		if err := f.f.Sync(); err != nil {
			return Manifest{}, err
		}
	}
	if o.Progress != nil {
		o.Progress(ExportProgress{Written: m.Count, Scanned: total, Positions: total})
	}
	m.Chain.Final = c.hex()
	m.CreatedAt = time.Now().UTC()
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Manifest{}, err
	}
	// The manifest comes last and whole: an archive without one is
	// unfinished, and none is half written.
	if err := durable.WriteFile(filepath.Join(dir, ManifestFile), append(b, '\n'), 0o600); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// archiveOnly reports whether dir holds nothing but an archive's files.
func archiveOnly(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		if n := e.Name(); n != EventsFile && n != ChainFile {
			return false, nil
		}
	}
	return true, nil
}

// createPrivate creates or truncates a file of an archive, readable by its
// owner only, whatever mode a file left there had.
func createPrivate(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// ExportCheck is the outcome of VerifyExport.
type ExportCheck struct {
	OK    bool   `json:"ok"`
	Lines uint64 `json:"lines"`
	Final string `json:"final"`
	// Line is the first line found tampered (1-based); 0 when the
	// problem is not one line's (or there is none).
	Line    uint64 `json:"line,omitempty"`
	Problem string `json:"problem,omitempty"`
}

// VerifyExport checks an archive: every line's sequence follows the one
// before (a deleted or added line is named by its position), the chain
// recomputed over the lines agrees with events.chain line by line (a
// changed line is named), with the manifest's links and with its final
// hash (which catches a rewritten events.chain), and the count and range
// agree with the manifest.
func VerifyExport(dir string) (ExportCheck, error) {
	var m Manifest
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return ExportCheck{}, fmt.Errorf("audit: verify-export: %w (an archive without a manifest is incomplete)", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return ExportCheck{}, fmt.Errorf("audit: verify-export: %s: %w", ManifestFile, err)
	}
	if m.Format != ExportFormat && m.Format != exportFormat1 {
		return ExportCheck{}, fmt.Errorf("audit: verify-export: unknown format %q", m.Format)
	}
	fail := func(line uint64, format string, args ...any) (ExportCheck, error) {
		return ExportCheck{Line: line, Problem: fmt.Sprintf(format, args...)}, nil
	}
	if m.Count == 0 || m.LastSequence < m.FirstSequence || (m.Family == "" && m.LastSequence-m.FirstSequence+1 != m.Count) ||
		m.LastSequence-m.FirstSequence+1 < m.Count {
		return fail(0, "the manifest is inconsistent: %d events for sequences %d..%d", m.Count, m.FirstSequence, m.LastSequence)
	}
	ev, err := os.Open(filepath.Join(dir, EventsFile))
	if err != nil {
		return ExportCheck{}, fmt.Errorf("audit: verify-export: %w", err)
	}
	defer ev.Close()
	var chainLines *bufio.Scanner
	if f, err := os.Open(filepath.Join(dir, ChainFile)); err == nil {
		defer f.Close()
		chainLines = bufio.NewScanner(f)
	} else if !errors.Is(err, os.ErrNotExist) {
		return ExportCheck{}, err
	}
	links := map[uint64]Link{}
	for _, l := range m.Chain.Links {
		links[l.Line] = l
	}
	r := bufio.NewReaderSize(ev, 1<<20)
	var (
		c        chain
		n        uint64
		expected = m.FirstSequence
	)
	for {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) && len(line) == 0 {
			break
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return ExportCheck{}, err
		}
		n++
		line = bytes.TrimSuffix(line, []byte("\n"))
		seq, ok := lineSequence(line, m.Format)
		if !ok {
			return fail(n, "line %d is not a line of an export (no JSON object with a sequence): changed", n)
		}
		switch {
		case n > m.Count:
			return fail(n, "line %d (sequence %d) is beyond the %d lines of the manifest: added", n, seq, m.Count)
		case m.Family != "" && seq < expected:
			return fail(n, "line %d holds sequence %d, not after the line before it (%d): added or moved", n, seq, expected-1)
		case m.Family != "" && (seq > m.LastSequence || (n == 1 && seq != m.FirstSequence)):
			return fail(n, "line %d holds sequence %d, outside the manifest's %d..%d: added, or the first line deleted", n, seq, m.FirstSequence, m.LastSequence)
		case m.Family != "" && !lineOfFamily(line, m.Family):
			return fail(n, "line %d (sequence %d) is not an event of family %s: added or changed", n, seq, m.Family)
		case m.Family != "":
		case seq > expected:
			return fail(n, "line %d holds sequence %d where %d was expected: the lines of sequences %d..%d are missing (deleted)", n, seq, expected, expected, seq-1)
		case seq < expected:
			return fail(n, "line %d holds sequence %d where %d was expected: added or moved", n, seq, expected)
		}
		expected = seq + 1
		c.add(line)
		if chainLines != nil {
			if !chainLines.Scan() {
				return fail(n, "%s ends before line %d", ChainFile, n)
			}
			if chainLines.Text() != c.hex() {
				return fail(n, "line %d (sequence %d) does not match its hash in %s: changed", n, seq, ChainFile)
			}
		}
		if l, ok := links[n]; ok && l.Hash != c.hex() {
			return fail(n, "the chain breaks at or before line %d (the manifest's link there differs): a line in %d..%d was changed",
				n, n-uint64(max(m.Chain.Every, 1))+1, n)
		}
	}
	if n < m.Count {
		return fail(n+1, "the archive ends after line %d; the manifest holds %d lines: lines %d..%d are missing", n, m.Count, n+1, m.Count)
	}
	if m.Family != "" && expected != m.LastSequence+1 {
		return fail(n, "the last line holds sequence %d, the manifest's last is %d: the last lines were deleted", expected-1, m.LastSequence)
	}
	if c.hex() != m.Chain.Final {
		return fail(0, "the chain over all %d lines is %s, the manifest says %s: the archive or its manifest was changed", n, c.hex(), m.Chain.Final)
	}
	return ExportCheck{OK: true, Lines: n, Final: c.hex()}, nil
}

// FirstCiphertext finds the first line of an archive's events.jsonl that
// holds an event as stored because its personal fields did not decrypt:
// an unreadable line with a reason, or one whose data still carries the
// key id of encrypted fields. It returns the line (1-based) and the
// sequence it holds, line 0 when every line holds the plaintext.
func FirstCiphertext(dir string) (line, seq uint64, reason string, err error) {
	f, err := os.Open(filepath.Join(dir, EventsFile))
	if err != nil {
		return 0, 0, "", err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	for n := uint64(1); ; n++ {
		b, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) && len(b) == 0 {
			return 0, 0, "", nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, 0, "", err
		}
		var head struct {
			Type     string `json:"type"`
			Sequence string `json:"jfsequence"`
			Reason   string `json:"jfreason"`
		}
		if err := json.Unmarshal(b, &head); err != nil {
			return 0, 0, "", fmt.Errorf("%s line %d: %w", EventsFile, n, err)
		}
		if head.Type != UnreadableType || (head.Reason == "" && !bytes.Contains(b, []byte(`"`+shred.Extension+`"`))) {
			continue
		}
		seq, _ := strconv.ParseUint(head.Sequence, 10, 64)
		if head.Reason == "" {
			head.Reason = "stored encrypted"
		}
		return n, seq, head.Reason, nil
	}
}

// lineOfFamily reports whether a replay line may be an event of family:
// an unreadable line names the NATS subject it was stored under, which
// must be the family's. A readable line is the stored CloudEvent, whose
// subject need not be the family's (a direct publish may carry any, and
// the family's archive holds it all the same): its place in the family's
// sequences and the hash chain vouch for it.
func lineOfFamily(line []byte, family string) bool {
	var head struct {
		NATSSubject string `json:"jfnatssubject"`
	}
	if json.Unmarshal(line, &head) != nil {
		return false
	}
	return head.NATSSubject == "" || strings.HasPrefix(head.NATSSubject, strings.TrimSuffix(events.FamilyFilter(family), ">"))
}

// lineSequence is the stream sequence a line of an archive of format
// holds.
func lineSequence(line []byte, format string) (uint64, bool) {
	if format == exportFormat1 {
		var head struct {
			Sequence *uint64 `json:"sequence"`
		}
		if json.Unmarshal(line, &head) != nil || head.Sequence == nil {
			return 0, false
		}
		return *head.Sequence, true
	}
	var head map[string]json.RawMessage
	if json.Unmarshal(line, &head) != nil {
		return 0, false
	}
	var v string
	if json.Unmarshal(head[ExtSequence], &v) != nil {
		return 0, false
	}
	seq, err := strconv.ParseUint(v, 10, 64)
	return seq, err == nil
}
