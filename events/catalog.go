// Package events is the Job og Familie event catalog: the event types each
// department may emit, their payloads, the NATS subjects they are stored under,
// and the CloudEvents envelope that carries them. A department system written
// in Go can import it as a client library to build events that ingest accepts.
package events

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"kk.dk/jobogfamilie/events/internal/jsonscan"
)

//go:generate go run ./cmd/catalogen -root ..
//go:generate sh -c "go run ./cmd/catalogdoc > ../docs/catalog.md.tmp && mv ../docs/catalog.md.tmp ../docs/catalog.md"

// Department is one of the municipal administrations that emit events. The
// departments are data (events/departments.json); the constants SOF, BIF,
// BUF, SUF, the list Departments and DepartmentCodes are generated from it
// into catalog_gen.go.
type Department string

// ParseDepartment returns the department with that lower-case code.
func ParseDepartment(s string) (Department, bool) {
	d := Department(s)
	return d, slices.Contains(Departments, d)
}

// Service is the emitter of the types no department owns: the service
// itself records them (family.erased). It is no department: no department
// token may post its types through ingest, and a stored event names it as
// source /departments/service and subject families.<id>.service.<name>.
const Service Department = "service"

// parseEmitter is ParseDepartment that also accepts Service: who may
// have stored an event.
func parseEmitter(s string) (Department, bool) {
	if s == string(Service) {
		return Service, true
	}
	return ParseDepartment(s)
}

// DanishName is the department's full Danish name.
func (d Department) DanishName() string {
	if n, ok := departmentNames[d]; ok {
		return n
	}
	return string(d)
}

const (
	// TypePrefix and TypeSuffix wrap a catalog name into its CloudEvents type.
	TypePrefix = "dk.kk.jobogfamilie."
	TypeSuffix = ".v1"
	// SchemaBaseURL is where the JSON Schemas are published; a schema's $id is
	// SchemaBaseURL + type + ".json", and ingest stamps it as dataschema.
	SchemaBaseURL = "https://jobogfamilie.kk.dk/schemas/"
	// SubjectRoot is the first token of every family event subject.
	SubjectRoot = "families"
)

// any is the owner list of types every department may emit.
var anyDept = Departments

// Spec describes one event type of the catalog.
type Spec struct {
	// Name is the catalog name, e.g. "praktik.started".
	Name string
	// Owners are the departments allowed to emit it.
	Owners []Department
	// Danish and English are the terms a caseworker and a developer use.
	Danish, English string
	// Invariant says when an event of this type is refused (409), in English
	// and Danish; empty when any well-formed event is accepted.
	Invariant, InvariantDa string
	// Personal are the JSON pointers (into data) of the personal free text:
	// reasons, notes, titles, purposes, names. They are what erasure must
	// make unreadable; every other field is an id, a code, a date or a
	// number, or free text that says nothing about a person.
	Personal []string
	newData  func() Payload
	// typ and schemaURL are Type and SchemaURL, made once: every event
	// read asks for them.
	typ, schemaURL string
	// cache is shared by every copy of a catalog Spec; nil in any other.
	cache *typeCache
}

// typeCache holds what reading an event of a catalog type needs beyond its
// Spec, found on first use: at hand in the Spec, it costs no look-up in a
// map keyed by the type for every event read.
type typeCache struct {
	compiled atomic.Pointer[compiled]
	plan     atomic.Pointer[jsonscan.Plan]
}

// Type is the CloudEvents type, e.g. "dk.kk.jobogfamilie.praktik.started.v1".
func (s Spec) Type() string {
	if s.typ != "" {
		return s.typ
	}
	return TypePrefix + s.Name + TypeSuffix
}

// SchemaURL is the $id of the type's JSON Schema, stamped as dataschema.
func (s Spec) SchemaURL() string {
	if s.schemaURL != "" {
		return s.schemaURL
	}
	return SchemaBaseURL + s.Type() + ".json"
}

// OwnedBy reports whether d may emit events of this type.
func (s Spec) OwnedBy(d Department) bool { return slices.Contains(s.Owners, d) }

// NewData returns a new, empty payload of the type's Go type.
func (s Spec) NewData() Payload { return s.newData() }

// AnyOwner reports whether every department may emit this type.
func (s Spec) AnyOwner() bool { return len(s.Owners) == len(Departments) }

func spec[T any, P interface {
	*T
	Payload
}](name string, owners []Department, da, en, inv, invDa string, personal []string) Spec {
	typ := TypePrefix + name + TypeSuffix
	return Spec{Name: name, Owners: owners, Danish: da, English: en, Invariant: inv, InvariantDa: invDa, Personal: personal,
		newData: func() Payload { return P(new(T)) }, typ: typ, schemaURL: SchemaBaseURL + typ + ".json",
		cache: &typeCache{}}
}

func owners(d ...Department) []Department { return d }

var (
	byName = map[string]Spec{}
	byType = map[string]Spec{}
)

func init() {
	for _, s := range catalog {
		if _, dup := byName[s.Name]; dup {
			panic("events: duplicate catalog name " + s.Name)
		}
		if got := s.NewData().EventName(); got != s.Name {
			panic(fmt.Sprintf("events: payload of %s names itself %s", s.Name, got))
		}
		byName[s.Name] = s
		byType[s.Type()] = s
	}
}

// Catalog returns every event type, in catalog order.
func Catalog() []Spec { return slices.Clone(catalog) }

// ByName looks a type up by its catalog name ("praktik.started").
func ByName(name string) (Spec, bool) { s, ok := byName[name]; return s, ok }

// ByType looks a type up by its CloudEvents type.
func ByType(ceType string) (Spec, bool) { s, ok := byType[ceType]; return s, ok }

// Subject is the NATS subject an event is stored under:
// families.<familyId>.<dept>.<name>, the catalog name's dots becoming tokens.
func Subject(familyID string, dept Department, name string) string {
	return SubjectRoot + "." + familyID + "." + string(dept) + "." + name
}

// FamilyFilter matches every event of one family, for per-family optimistic
// concurrency (WithExpectLastSequenceForSubject) and for filtered reads.
func FamilyFilter(familyID string) string { return SubjectRoot + "." + familyID + ".>" }

// AllFamilies matches every family event subject.
const AllFamilies = SubjectRoot + ".>"

// DepartmentFilter matches the subjects a department may publish to.
func DepartmentFilter(d Department) string { return SubjectRoot + ".*." + string(d) + ".>" }

// SubjectParts is a parsed family event subject.
type SubjectParts struct {
	FamilyID   string
	Department Department
	Name       string
}

// ParseSubject splits a subject made by Subject. It does not require the name
// to be in the catalog, so that unknown types can be reported by name.
func ParseSubject(subject string) (SubjectParts, error) {
	// strings.SplitN(subject, ".", 4), without allocating its result:
	// every stored event's subject is parsed.
	root, rest, ok1 := strings.Cut(subject, ".")
	family, rest, ok2 := strings.Cut(rest, ".")
	dept, name, ok3 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || !ok3 || root != SubjectRoot || name == "" {
		return SubjectParts{}, fmt.Errorf("%w: %q is not families.<familyId>.<dept>.<name>", ErrSubject, subject)
	}
	if !ValidID(family) {
		return SubjectParts{}, fmt.Errorf("%w: family id %q", ErrSubject, family)
	}
	d, ok := parseEmitter(dept)
	if !ok {
		return SubjectParts{}, fmt.Errorf("%w: department %q", ErrSubject, dept)
	}
	return SubjectParts{FamilyID: family, Department: d, Name: name}, nil
}
