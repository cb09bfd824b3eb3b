// Package events is the Job og Familie event catalog: the event types each
// department may emit, their payloads, the NATS subjects they are stored under,
// and the CloudEvents envelope that carries them. A department system written
// in Go can import it as a client library to build events that ingest accepts.
package events

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

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
	// TypePrefix and VersionSeparator wrap a catalog name and a version
	// into its CloudEvents type: TypePrefix + name + ".v" + version.
	TypePrefix       = "dk.kk.jobogfamilie."
	VersionSeparator = ".v"
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
	// Name is the catalog name, e.g. "praktik.started". It is the same for
	// every version of a type, and so is the subject an event is stored
	// under.
	Name string
	// Version counts from 1; each version is a Spec of its own, with its
	// own schema and Go payload type.
	Version int
	// Change and UpcastRule say, for a version after the first, what
	// differs from the previous version and how an event of that version
	// is read as this one (Upcast).
	Change, UpcastRule string
	// Since is the day (YYYY-MM-DD) a version after the first was
	// published; the version before it is deprecated from then
	// (Deprecated).
	Since string
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
	// newest is the latest version of the name, set at init: every
	// event read asks whether it needs an upcast.
	newest int
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
	return TypeOf(s.Name, s.Version)
}

// TypeOf is the CloudEvents type of a version of a catalog name.
func TypeOf(name string, version int) string {
	return TypePrefix + name + VersionSeparator + strconv.Itoa(version)
}

// Latest is the newest version of the type, the shape every read path
// presents (see Upcast).
func (s Spec) Latest() Spec { return latest[s.Name] }

// IsLatest reports whether s is the newest version of its type.
func (s Spec) IsLatest() bool {
	if s.newest != 0 {
		return s.newest == s.Version
	}
	return latest[s.Name].Version == s.Version
}

// Deprecated is when a version stopped being the latest: the day its
// successor was published (UTC midnight); zero for the latest version.
func (s Spec) Deprecated() time.Time {
	if s.IsLatest() {
		return time.Time{}
	}
	t, _ := time.Parse(time.DateOnly, Versions(s.Name)[s.Version].Since)
	return t
}

// Successor is the version after s; false for the latest.
func (s Spec) Successor() (Spec, bool) {
	if s.IsLatest() {
		return Spec{}, false
	}
	return Versions(s.Name)[s.Version], true
}

// Key names one version of a type where the catalog name alone does not:
// the name for version 1 (as in schemas/testdata/<name>/), the name and
// the version for the later ones ("goal.set.v2").
func (s Spec) Key() string {
	if s.Version == 1 {
		return s.Name
	}
	return s.Name + VersionSeparator + strconv.Itoa(s.Version)
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
}](name string, version int, owners []Department, da, en, inv, invDa string, personal []string, change, upcast, since string) Spec {
	typ := TypeOf(name, version)
	return Spec{Name: name, Version: version, Change: change, UpcastRule: upcast, Since: since,
		Owners: owners, Danish: da, English: en, Invariant: inv, InvariantDa: invDa, Personal: personal,
		newData: func() Payload { return P(new(T)) }, typ: typ, schemaURL: SchemaBaseURL + typ + ".json",
		cache: &typeCache{}}
}

func owners(d ...Department) []Department { return d }

var (
	byType = map[string]Spec{}
	// latest is the newest version of each catalog name.
	latest = map[string]Spec{}
	// byGo is the Spec of each Go payload type, for Build.
	byGo = map[reflect.Type]Spec{}
	// current is the newest version of each type, in catalog order.
	current []Spec
	// newestFingerprint is NewestFingerprint, made once at init.
	newestFingerprint string
)

func init() {
	newest := map[string]int{}
	for _, s := range catalog {
		newest[s.Name] = max(newest[s.Name], s.Version)
	}
	for i := range catalog {
		catalog[i].newest = newest[catalog[i].Name]
	}
	for _, s := range catalog {
		if _, dup := byType[s.Type()]; dup {
			panic("events: duplicate catalog type " + s.Type())
		}
		if prev, ok := latest[s.Name]; (ok && prev.Version+1 != s.Version) || (!ok && s.Version != 1) {
			panic(fmt.Sprintf("events: version %d of %s does not follow the versions before it", s.Version, s.Name))
		}
		if got := s.NewData().EventName(); got != s.Name {
			panic(fmt.Sprintf("events: payload of %s names itself %s", s.Name, got))
		}
		latest[s.Name] = s
		byType[s.Type()] = s
		byGo[reflect.TypeOf(s.NewData())] = s
	}
	for _, s := range catalog {
		if s.IsLatest() {
			current = append(current, s)
		}
	}
	newestFingerprint = fingerprint(current)
	checkUpcasters()
}

// NewestFingerprint names the newest version of every type that has more
// than one: what every read path converts an earlier version to. It changes
// whenever a type gains a version; a new type, at its first version, is
// stored as read and changes nothing. A store that keeps events
// or state made of them as the newest versions (the read model's rows and
// overviews, ingest's family states) records it, and one that recorded
// another is made again from the stream: its contents have the shapes of
// another catalog.
func NewestFingerprint() string { return newestFingerprint }

// fingerprint is the hex SHA-256 of the types of specs past their first
// version, sorted, one a line: the same whatever the catalog's order.
func fingerprint(specs []Spec) string {
	var types []string
	for _, s := range specs {
		if s.Version > 1 {
			types = append(types, s.Type())
		}
	}
	slices.Sort(types)
	h := sha256.New()
	for _, t := range types {
		h.Write([]byte(t + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Catalog returns the newest version of every event type, in catalog order:
// what a department system emits today, and the shape every read path
// presents. AllVersions adds the earlier versions.
func Catalog() []Spec { return slices.Clone(current) }

// AllVersions returns every version of every event type, in catalog order,
// the versions of a type one after the other from version 1.
func AllVersions() []Spec { return slices.Clone(catalog) }

// Versions returns the versions of a catalog name, from version 1.
func Versions(name string) []Spec {
	var out []Spec
	for _, s := range catalog {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// ByName looks up the newest version of a type by its catalog name
// ("praktik.started").
func ByName(name string) (Spec, bool) { s, ok := latest[name]; return s, ok }

// ByKey looks up one version of a type by its key (Spec.Key): the name for
// version 1, "<name>.v<version>" for a later one.
func ByKey(key string) (Spec, bool) {
	if name, v, ok := splitType(TypePrefix + key); ok {
		if s, ok := byType[TypeOf(name, v)]; ok {
			return s, true
		}
	}
	return ByType(TypeOf(key, 1))
}

// ByType looks a type up by its CloudEvents type, any version.
func ByType(ceType string) (Spec, bool) { s, ok := byType[ceType]; return s, ok }

// SpecOf looks up the type and version whose Go payload type p is.
func SpecOf(p Payload) (Spec, bool) { s, ok := byGo[reflect.TypeOf(p)]; return s, ok }

func specOf(p Payload) (Spec, bool) { return SpecOf(p) }

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
