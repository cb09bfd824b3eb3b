package jsonscan

import (
	"encoding/json"
	"strings"
	"testing"
)

// absence is a payload of the catalog's shape (events.SchoolAbsenceNoted).
type absence struct {
	ChildID     string `json:"childId"`
	PeriodStart string `json:"periodStart"`
	PeriodEnd   string `json:"periodEnd"`
	SchoolDays  int    `json:"schoolDays"`
	AbsentDays  struct {
		Sickness     int `json:"sickness"`
		Authorised   int `json:"authorised"`
		Unauthorised int `json:"unauthorised"`
	} `json:"absentDays"`
}

// TestDecodePlainLeavesTheRest: what the plain subset leaves out goes to
// encoding/json, whatever encoding/json then makes of it.
func TestDecodePlainLeavesTheRest(t *testing.T) {
	valid := `{"childId":"C1","periodStart":"2025-01-01","periodEnd":"2025-01-31","schoolDays":20,"absentDays":{"sickness":1,"authorised":0,"unauthorised":2}}`
	var got, want absence
	if !DecodePlain([]byte(valid), &got) || json.Unmarshal([]byte(valid), &want) != nil || got != want {
		t.Fatalf("the plain form does not decode as encoding/json decodes it: %+v, %+v", got, want)
	}
	for name, data := range map[string]string{
		"escape in a string":       strings.Replace(valid, `"C1"`, `"C\u0031"`, 1),
		"escaped member name":      strings.Replace(valid, `"childId"`, `"child\u0049d"`, 1),
		"null":                     strings.Replace(valid, `"C1"`, `null`, 1),
		"unknown member":           strings.Replace(valid, `"childId"`, `"kidId"`, 1),
		"member in another case":   strings.Replace(valid, `"childId"`, `"ChildID"`, 1),
		"member twice":             strings.Replace(valid, `"schoolDays":20`, `"schoolDays":20,"schoolDays":21`, 1),
		"fraction into an int":     strings.Replace(valid, `:20`, `:20.0`, 1),
		"exponent into an int":     strings.Replace(valid, `:20`, `:2e1`, 1),
		"int too large":            strings.Replace(valid, `:20`, `:99999999999999999999`, 1),
		"leading zero":             strings.Replace(valid, `:20`, `:020`, 1),
		"string for an int":        strings.Replace(valid, `:20`, `:"20"`, 1),
		"trailing data":            valid + `x`,
		"cut short":                valid[:len(valid)-1],
		"invalid UTF-8":            strings.Replace(valid, `"C1"`, "\"C\xff\"", 1),
		"control character":        strings.Replace(valid, `"C1"`, "\"C\x01\"", 1),
		"array for an object":      strings.Replace(valid, `{"sickness":1,"authorised":0,"unauthorised":2}`, `[1,0,2]`, 1),
		"not an object at the top": `["C1"]`,
	} {
		if DecodePlain([]byte(data), new(absence)) {
			t.Errorf("%s: decodePlain accepts %s", name, data)
		}
	}
	if DecodePlain([]byte(valid), absence{}) {
		t.Error("decodePlain accepts a value that is not a pointer")
	}
}
