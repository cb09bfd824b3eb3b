// Package catalogdoc renders docs/catalog.md, the event catalog as department
// developers read it, from events.Catalog and the JSON Schemas with their
// examples. Generating it means the document cannot promise a field, a limit
// or an example that ingest would refuse.
package catalogdoc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/schemas"
)

// The envelope of every example event. They are fixed so that the document
// only changes when the catalog or the schemas do.
const (
	exampleFamily = "F2019-07"
	exampleTime   = "2019-03-04T09:30:00+01:00"
)

// Render returns docs/catalog.md. The output depends only on the catalog and
// the schemas, so it is the same on every run and machine.
func Render() ([]byte, error) {
	var b bytes.Buffer
	in, err := intro()
	if err != nil {
		return nil, err
	}
	b.WriteString(in)
	writeIndex(&b)
	for _, spec := range events.Catalog() {
		if err := writeType(&b, spec); err != nil {
			return nil, fmt.Errorf("catalogdoc: %s: %w", spec.Name, err)
		}
	}
	return b.Bytes(), nil
}

func writeIndex(b *bytes.Buffer) {
	b.WriteString("## The event types\n\n")
	b.WriteString("| name | Danish | English | owner(s) | refused (409) unless |\n|---|---|---|---|---|\n")
	for _, s := range events.Catalog() {
		inv := s.Invariant
		if inv == "" {
			inv = "—"
		}
		fmt.Fprintf(b, "| [%s](#%s) | %s | %s | %s | %s |\n",
			s.Name, anchor(s.Name), cell(s.Danish), cell(s.English), ownerCodes(s), cell(inv))
	}
	b.WriteString("\n")
}

func writeType(b *bytes.Buffer, spec events.Spec) error {
	raw, ok := schemas.Lookup(spec.Type())
	if !ok {
		return fmt.Errorf("no schema for %s", spec.Type())
	}
	var root schema
	if err := json.Unmarshal(raw, &root); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	example, err := exampleEvent(spec)
	if err != nil {
		return err
	}
	dept := exampleDepartment(spec)

	fmt.Fprintf(b, "## %s\n\n", spec.Name)
	fmt.Fprintf(b, "**%s** / %s\n\n", spec.Danish, spec.English)
	b.WriteString("| | |\n|---|---|\n")
	fmt.Fprintf(b, "| owner(s) | %s |\n", cell(ownerNames(spec)))
	fmt.Fprintf(b, "| CloudEvents type | %s |\n", code(spec.Type()))
	if spec.Version > 1 {
		fmt.Fprintf(b, "| versions | %d; see [its versions](#versions-of-%s) |\n", spec.Version, anchor(spec.Name))
	}
	fmt.Fprintf(b, "| data schema | <%s> |\n", spec.SchemaURL())
	fmt.Fprintf(b, "| subject | the familyId, e.g. %s |\n", code(exampleFamily))
	fmt.Fprintf(b, "| NATS subject | %s, e.g. %s |\n",
		code(events.Subject("<familyId>", "<dept>", spec.Name)), code(events.Subject(exampleFamily, dept, spec.Name)))
	if spec.Invariant == "" {
		b.WriteString("| refused (409) unless | — (every valid event is accepted) |\n")
	} else {
		fmt.Fprintf(b, "| refused (409) unless | %s |\n", cell(spec.Invariant))
		fmt.Fprintf(b, "| afvises (409) medmindre | %s |\n", cell(spec.InvariantDa))
	}
	if len(spec.Personal) == 0 {
		b.WriteString("| personal free text | — |\n")
	} else {
		var ps []string
		for _, p := range spec.Personal {
			ps = append(ps, code(p))
		}
		fmt.Fprintf(b, "| personal free text | %s |\n", strings.Join(ps, ", "))
	}
	b.WriteString("\n")
	if notes := schemaNotes(root.Description); notes != "" {
		fmt.Fprintf(b, "%s\n\n", notes)
	}

	writeFields(b, &root)
	fmt.Fprintf(b, "\nExample (structured mode):\n\n```json\n%s```\n\n", example)
	return writeVersions(b, spec)
}

// writeVersions lists a type's earlier versions: what changed, the upcast
// rule, and each earlier version's fields.
func writeVersions(b *bytes.Buffer, latest events.Spec) error {
	vs := events.Versions(latest.Name)
	if len(vs) < 2 {
		return nil
	}
	fmt.Fprintf(b, "### Versions of %s\n\n", latest.Name)
	b.WriteString("| version | CloudEvents type | data schema | published | what changed | upcast from the version before |\n|---|---|---|---|---|---|\n")
	for _, v := range vs {
		change, up, since := v.Change, v.UpcastRule, v.Since
		if v.Version == 1 {
			change, up, since = "the first version", "—", "—"
		}
		fmt.Fprintf(b, "| %d | %s | <%s> | %s | %s | %s |\n", v.Version, code(v.Type()), v.SchemaURL(), since, cell(change), cell(up))
	}
	b.WriteString("\nAn event of an earlier version is accepted with a `Deprecation` header until its sunset, stored as sent, and read everywhere as the newest version.\n\n")
	for _, v := range vs[:len(vs)-1] {
		raw, ok := schemas.Lookup(v.Type())
		if !ok {
			return fmt.Errorf("no schema for %s", v.Type())
		}
		var root schema
		if err := json.Unmarshal(raw, &root); err != nil {
			return fmt.Errorf("schema: %w", err)
		}
		fmt.Fprintf(b, "Fields of version %d (%s):\n\n", v.Version, code(v.Type()))
		writeFields(b, &root)
		b.WriteString("\n")
	}
	return nil
}

func writeFields(b *bytes.Buffer, root *schema) {
	b.WriteString("| field | type | required | constraints | description |\n|---|---|---|---|---|\n")
	for _, f := range flatten("", root, nil) {
		req := "no"
		if f.required {
			req = "yes"
		}
		cons := strings.Join(f.schema.constraints(), "; ")
		if cons == "" {
			cons = "—"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n",
			code(f.path), f.schema.jsonType(), req, cell(cons), cell(f.schema.Description))
	}
}

// schemaNotes is what a schema's description says beyond the terms and
// owners that the table above already shows: the rules JSON Schema cannot
// express. Schema descriptions read "<Danish> / <English>. Owner(s): …."
// followed by those rules, if any.
func schemaNotes(desc string) string {
	i := strings.Index(desc, "Owner")
	if i < 0 {
		return desc
	}
	_, notes, _ := strings.Cut(desc[i:], ". ")
	return notes
}

// exampleDepartment is the department the examples are sent by: the only or
// first owner.
func exampleDepartment(spec events.Spec) events.Department { return spec.Owners[0] }

// exampleEvent is a complete structured CloudEvent of the type whose data is
// the schema's first valid example, so that the documented example is one the
// schema tests have accepted.
func exampleEvent(spec events.Spec) ([]byte, error) {
	data, ok := schemas.Example(spec.Key())
	if !ok {
		return nil, fmt.Errorf("no valid example in schemas/testdata/%s", spec.Key())
	}
	dept := exampleDepartment(spec)
	ev := struct {
		SpecVersion     string          `json:"specversion"`
		ID              string          `json:"id"`
		Source          string          `json:"source"`
		Type            string          `json:"type"`
		Subject         string          `json:"subject"`
		Time            string          `json:"time"`
		DataContentType string          `json:"datacontenttype"`
		Data            json.RawMessage `json:"data"`
	}{
		SpecVersion:     "1.0",
		ID:              string(dept) + "-" + spec.Name + "-0001",
		Source:          "/departments/" + string(dept),
		Type:            spec.Type(),
		Subject:         exampleFamily,
		Time:            exampleTime,
		DataContentType: "application/json",
		Data:            data,
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(ev); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func ownerCodes(s events.Spec) string {
	if s.AnyOwner() {
		return "any"
	}
	codes := make([]string, len(s.Owners))
	for i, d := range s.Owners {
		codes[i] = string(d)
	}
	return strings.Join(codes, ", ")
}

func ownerNames(s events.Spec) string {
	names := make([]string, len(s.Owners))
	for i, d := range s.Owners {
		names[i] = fmt.Sprintf("%s (%s)", d, d.DanishName())
	}
	if s.AnyOwner() {
		return "any department: " + strings.Join(names, ", ")
	}
	return strings.Join(names, ", ")
}

// code is a Markdown code span.
func code(s string) string { return "`" + s + "`" }

// cell makes text safe in a table cell: GitHub splits cells at every
// unescaped pipe, even inside code spans; and outside code spans a "<"
// is escaped, so that a placeholder such as <cvr> in a rule's text shows
// as written instead of being read as an HTML tag.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	if !strings.Contains(s, "<") {
		return s
	}
	// Between backticks is code; after an unpaired one, text again.
	parts := strings.Split(s, "`")
	for i := range parts {
		if i%2 == 0 || i == len(parts)-1 {
			parts[i] = strings.ReplaceAll(parts[i], "<", `\<`)
		}
	}
	return strings.Join(parts, "`")
}

// anchor is the id GitHub gives a heading: lower case, punctuation other
// than hyphens and underscores dropped.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}
