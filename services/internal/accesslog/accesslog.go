// Package accesslog records who read which family's data, when and why, on
// the ACCESS_LOG stream: every read of a family's data by a person is
// appended, and acknowledged, before the data is sent. The coordinator API,
// the audit API and the audit CLI (RecordCommand) all record through it,
// so entries have one form.
package accesslog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/problem"
)

// Subjects of ACCESS_LOG. A read of one family's data goes to
// access.<familyId>. A read of every family at once (an audit replay
// without a family filter) goes once to BulkSubject, which has three
// tokens and so can never be a family's subject; a family's access log
// includes those entries, because such a read covered the family too.
const (
	Prefix      = "access."
	BulkSubject = "access.bulk.audit"
	// EvaluationSubject records reads of the evaluation's exact,
	// unsuppressed figures (suppress=false): no family's data, but not
	// safe to publish either.
	EvaluationSubject = "access.bulk.evaluation"
	// BulkFamily is the familyId of an entry on BulkSubject.
	BulkFamily = "*"
)

// HeaderPurpose is the request header with the reason for a read.
const HeaderPurpose = "X-Purpose"

// MaxPurpose is the longest purpose accepted: it is stored forever.
const MaxPurpose = 200

// Entry is one record of ACCESS_LOG.
type Entry struct {
	Time       time.Time `json:"time"`
	FamilyID   string    `json:"familyId"`
	Principal  string    `json:"principal"`
	Kind       auth.Kind `json:"kind"`
	EmployeeID string    `json:"employeeId"`
	Endpoint   string    `json:"endpoint"`
	Purpose    string    `json:"purpose"`
}

// Subject is the subject of a family's entries.
func Subject(familyID string) string { return Prefix + familyID }

// Purpose reads X-Purpose: optional, given at most once, at most
// MaxPurpose characters of printable UTF-8 (400 otherwise), holding no CPR number and no control or
// other invisible character (422, naming the header). It also vets the
// request as CheckQuery does: its method and the query string, which
// Record stores with the endpoint. Every read that records an access
// calls it first, so nothing reaches the immutable log unchecked.
func Purpose(r *http.Request) (string, error) {
	if err := checkMethod(r); err != nil {
		return "", err
	}
	if len(r.Header.Values(HeaderPurpose)) > 1 {
		return "", problem.BadRequest(HeaderPurpose + " given more than once; a read has one purpose")
	}
	v := strings.TrimSpace(r.Header.Get(HeaderPurpose))
	if err := CheckPurpose(HeaderPurpose, v); err != nil {
		return "", err
	}
	if err := checkQuery(r); err != nil {
		return "", err
	}
	return v, nil
}

// CheckPurpose holds a purpose given otherwise than in X-Purpose (a
// command-line tool's -purpose) to Purpose's rules, naming it as name in
// the problem: at most MaxPurpose characters of printable UTF-8, no CPR
// number.
func CheckPurpose(name, v string) error {
	if !utf8.ValidString(v) || utf8.RuneCountInString(v) > MaxPurpose {
		return problem.BadRequest(name + " must be printable UTF-8 of at most " + strconv.Itoa(MaxPurpose) + " characters")
	}
	switch {
	case strings.IndexFunc(v, func(c rune) bool { return !unicode.IsPrint(c) }) >= 0:
		return refused(name, "must be printable text without control or invisible characters")
	case events.ContainsCPR(v):
		return refused(name, "holds what looks like a CPR number; the purpose is stored for good and must not hold one")
	}
	return nil
}

// CheckQuery is Purpose's check of the request without X-Purpose, for
// reads whose purpose does not come in it (the web app's): a read of
// family data is a GET, and a HEAD is refused (405, Allow: GET) before
// anything is read or recorded, since its answer would show nothing of
// the family but the length of its data while the log recorded a read;
// and a query parameter that holds a CPR number or a control character
// is refused (422, naming "?<parameter>").
func CheckQuery(r *http.Request) error {
	if err := checkMethod(r); err != nil {
		return err
	}
	return checkQuery(r)
}

// CheckMethod refuses a HEAD of a read of family data (405, Allow: GET),
// as Purpose does; a handler calls it first, so that the refusal comes
// at once, before authentication or a wait for X-Min-Position.
func CheckMethod(r *http.Request) error { return checkMethod(r) }

// checkMethod refuses a HEAD (405, Allow: GET).
func checkMethod(r *http.Request) error {
	if r.Method != http.MethodHead {
		return nil
	}
	p := problem.New(http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed",
		"a read of family data is recorded in the access log and is a GET; HEAD reads nothing")
	p.Allow = http.MethodGet
	return p
}

// checkQuery refuses a query string whose parameters (names or values)
// hold a CPR number or a control character. Values are not echoed.
func checkQuery(r *http.Request) error {
	if r.URL.RawQuery == "" {
		return nil
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return problem.BadRequest("the query string cannot be read: " + err.Error())
	}
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if bad(name) {
			return refused("?", "a query parameter's name holds a CPR number or a control character; the query is stored in the access log")
		}
		for _, v := range q[name] {
			if bad(v) {
				return refused("?"+name, "holds a CPR number or a control character; the query is stored in the access log")
			}
		}
	}
	return nil
}

func bad(s string) bool {
	_, ctl := events.AttributeControlIn(s)
	return ctl || events.ContainsCPR(s)
}

// refused is the 422 for a header or query parameter, named in the
// problem's pointer.
func refused(name, detail string) *problem.Problem {
	p := problem.New(http.StatusUnprocessableEntity, "invalid-request", "Invalid request", name+" "+detail)
	p.Errors = []problem.Field{{Pointer: name, Detail: detail}}
	return p
}

// Record appends the read of r by pr to the log of familyID (BulkSubject
// when familyID is empty) and waits for JetStream's acknowledgement. The
// caller sends no family data unless it returns nil.
func Record(ctx context.Context, js jetstream.JetStream, r *http.Request, pr auth.Principal, familyID, purpose string) error {
	subject, fam := Subject(familyID), familyID
	if familyID == "" {
		subject, fam = BulkSubject, BulkFamily
	}
	return record(ctx, js, endpoint(r), pr, subject, fam, purpose)
}

// Unavailable is the answer to a read refused because its entry could not
// be written (503): family data is never served unlogged.
func Unavailable() *problem.Problem {
	return problem.Unavailable("the access log could not be written; family data is never served unlogged")
}

// CommandMethod stands in the endpoint of an entry for the HTTP method
// when a command-line tool read the data: "CLI audit replay -family F1".
const CommandMethod = "CLI"

// CommandPrincipal is the principal of a read through the command-line
// tool named tool, which has no token, only NATS credentials: it is named
// after the tool and the operating system's user who ran it, "cli:<tool>
// (<osUser>)", with the kind the tool reads as (auth.Auditor for the
// audit CLI's reads, auth.DPO for erase-due's archive). A user name that
// is empty, not printable text or holds what looks like a CPR number is
// recorded as "unknown": the log is kept for good.
func CommandPrincipal(tool, osUser string, kind auth.Kind) auth.Principal {
	if osUser == "" || len(osUser) > 64 || CheckPurpose("user", osUser) != nil {
		osUser = "unknown"
	}
	return auth.Principal{Name: auth.CLIPrefix + tool + " (" + osUser + ")", Kind: kind}
}

// RecordCommand appends a read of family data by a command-line tool to
// the log of familyID (BulkSubject when familyID is empty, a read of
// every family) and waits for JetStream's acknowledgement; the tool
// writes no family data unless it returns nil. pr is its
// CommandPrincipal; command is what was run, the tool's command and the
// selection, e.g. "audit replay -family F1", recorded as the endpoint
// "CLI audit replay -family F1". A purpose is required, held to
// CheckPurpose's rules; neither may hold a CPR number or a control
// character.
func RecordCommand(ctx context.Context, js jetstream.JetStream, pr auth.Principal, command, familyID, purpose string) error {
	switch {
	case strings.TrimSpace(purpose) == "":
		return errors.New("accesslog: a read through a command-line tool needs its purpose")
	case bad(command):
		return errors.New("accesslog: the command holds a CPR number or a control character")
	case familyID != "" && !events.ValidID(familyID):
		return errors.New("accesslog: the family id is not an id (" + events.IDPattern + ")")
	}
	if err := CheckPurpose("purpose", purpose); err != nil {
		return err
	}
	subject, fam := Subject(familyID), familyID
	if familyID == "" {
		subject, fam = BulkSubject, BulkFamily
	}
	return record(ctx, js, CommandMethod+" "+command, pr, subject, fam, strings.TrimSpace(purpose))
}

// endpoint is what an entry records of the request read: its method and
// its path with the query.
func endpoint(r *http.Request) string { return r.Method + " " + r.URL.RequestURI() }

// RecordList appends the read of a list of families (familyIDs, the ones
// listed) by pr: an auditor's list covers every family, so it is one
// entry on BulkSubject, which each family's access log includes; anyone
// else's is one entry on access.<familyId> for each family listed (none
// for an empty list), by RecordEach.
func RecordList(ctx context.Context, js jetstream.JetStream, r *http.Request, pr auth.Principal, familyIDs []string, purpose string) error {
	if pr.Kind == auth.Auditor {
		return Record(ctx, js, r, pr, "", purpose)
	}
	return RecordEach(ctx, js, r, pr, familyIDs, purpose)
}

// MaxInFlight is how many of RecordEach's entries are published at once.
const MaxInFlight = 32

// RecordEach appends the read of r by pr to the log of each of familyIDs,
// one entry per family on access.<familyId>, for a page that shows data of
// several families (a coordinator's list of the families assigned to
// them). The entries are published together, up to MaxInFlight at a time,
// and RecordEach waits for every acknowledgement; it returns the first
// error, and the caller sends no family data unless it returns nil. A read
// of every family is recorded once, by Record with an empty familyID.
func RecordEach(ctx context.Context, js jetstream.JetStream, r *http.Request, pr auth.Principal, familyIDs []string, purpose string) error {
	if slices.Contains(familyIDs, "") {
		return errors.New("accesslog: a family id is empty")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		slots = make(chan struct{}, MaxInFlight)
	)
	for _, fam := range familyIDs {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-slots }()
			if err := record(ctx, js, endpoint(r), pr, Subject(fam), fam, purpose); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// RecordEvaluation appends a read of the evaluation's exact figures to
// EvaluationSubject and waits for the acknowledgement.
func RecordEvaluation(ctx context.Context, js jetstream.JetStream, r *http.Request, pr auth.Principal, purpose string) error {
	return record(ctx, js, endpoint(r), pr, EvaluationSubject, BulkFamily, purpose)
}

func record(ctx context.Context, js jetstream.JetStream, endpoint string, pr auth.Principal, subject, fam, purpose string) error {
	b, err := json.Marshal(Entry{
		Time: time.Now().UTC(), FamilyID: fam, Principal: pr.Name, Kind: pr.Kind,
		EmployeeID: pr.EmployeeID, Endpoint: endpoint, Purpose: purpose,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	// Only ACCESS_LOG may store it: a stream that took the subject from it
	// (a stream update) is refused by the server, and an acknowledgement
	// of another stream is no entry in the access log.
	ack, err := js.Publish(ctx, subject, b, jetstream.WithExpectStream(eventstore.AccessLogStream))
	if err != nil {
		return err
	}
	if ack.Stream != eventstore.AccessLogStream {
		return fmt.Errorf("accesslog: %w: the entry was acknowledged by stream %q, not %s", eventstore.ErrIntegrity, ack.Stream, eventstore.AccessLogStream)
	}
	acknowledged(js).Advance(ack.Sequence)
	return nil
}

// acked is the highest ACCESS_LOG sequence acknowledged to Record, per
// connection: each process's event store guard checks that the stream
// still holds it (see Acknowledged).
var acked sync.Map // jetstream.JetStream → *eventstore.Position

func acknowledged(js jetstream.JetStream) *eventstore.Position {
	p, _ := acked.LoadOrStore(js, new(eventstore.Position))
	return p.(*eventstore.Position)
}

// Acknowledged is the highest sequence of an entry Record has had
// acknowledged on js: ACCESS_LOG must never again end below it.
func Acknowledged(js jetstream.JetStream) uint64 { return acknowledged(js).Load() }
