// Package accesslog records who read which family's data, when and why, on
// the ACCESS_LOG stream: every read of a family's data by a person is
// appended, and acknowledged, before the data is sent. The coordinator API
// and the audit API both record through it, so entries have one form.
package accesslog

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"

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

// Purpose reads X-Purpose: optional, at most MaxPurpose characters of
// printable UTF-8.
func Purpose(r *http.Request) (string, error) {
	v := strings.TrimSpace(r.Header.Get(HeaderPurpose))
	if !utf8.ValidString(v) || utf8.RuneCountInString(v) > MaxPurpose ||
		strings.IndexFunc(v, func(c rune) bool { return !unicode.IsPrint(c) }) >= 0 {
		return "", problem.BadRequest(HeaderPurpose + " must be printable UTF-8 of at most " + strconv.Itoa(MaxPurpose) + " characters")
	}
	return v, nil
}

// Record appends the read of r by pr to the log of familyID (BulkSubject
// when familyID is empty) and waits for JetStream's acknowledgement. The
// caller sends no family data unless it returns nil.
func Record(ctx context.Context, js jetstream.JetStream, r *http.Request, pr auth.Principal, familyID, purpose string) error {
	subject, fam := Subject(familyID), familyID
	if familyID == "" {
		subject, fam = BulkSubject, BulkFamily
	}
	b, err := json.Marshal(Entry{
		Time: time.Now().UTC(), FamilyID: fam, Principal: pr.Name, Kind: pr.Kind,
		EmployeeID: pr.EmployeeID, Endpoint: r.Method + " " + r.URL.RequestURI(), Purpose: purpose,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	ack, err := js.Publish(ctx, subject, b)
	if err != nil {
		return err
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
