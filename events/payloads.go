package events

// Payload is the data of one catalog event type. Every type of the catalog
// has exactly one payload struct, generated from its JSON Schema in schemas/
// into payloads_gen.go; a test proves each agrees with the schema (field
// names, required fields, JSON types).
//
// Dates are "YYYY-MM-DD" strings; ids match IDPattern. Optional fields carry
// `omitempty`; required ones do not.
type Payload interface {
	// EventName is the catalog name of the payload's type.
	EventName() string
}

// Values of enumerated fields that the family model reasons about.
const (
	RoleParent = "parent"
	RoleChild  = "child"

	ScopeFamilyPlan    = "family-plan"
	ScopeDataSharing   = "data-sharing"
	ScopeGPCooperation = "gp-cooperation"
)
