// Package openapi holds the OpenAPI 3.1 descriptions of the HTTP APIs, one
// fragment per service (paths and the components they use), and puts
// together the document a server serves at GET /openapi.json from the
// fragments of the services it runs.
package openapi

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"kk.dk/jobogfamilie/events"
)

//go:embed *.json
var files embed.FS

// Fragment is a part of an OpenAPI document: its "paths" and the
// "components" they refer to.
type Fragment []byte

func file(name string) Fragment {
	b, err := files.ReadFile(name)
	if err != nil {
		panic(err) // embedded: a missing file is a build defect
	}
	return b
}

// Ops is /healthz, /readyz, /metrics and /openapi.json, which every server
// answers.
func Ops() Fragment { return file("ops.json") }

// Ingest is the ingest API of depts: POST /departments/<dept>/v1/events
// for each.
func Ingest(depts []events.Department) Fragment {
	var doc struct {
		Paths      map[string]json.RawMessage `json:"paths"`
		Components json.RawMessage            `json:"components"`
	}
	if err := json.Unmarshal(file("ingest.json"), &doc); err != nil {
		panic(err)
	}
	const template = "/departments/{dept}/v1/events"
	item := string(doc.Paths[template])
	delete(doc.Paths, template)
	for _, d := range depts {
		dept := string(d)
		doc.Paths["/departments/"+dept+"/v1/events"] = json.RawMessage(
			strings.NewReplacer("{dept}", dept, "{DEPT}", strings.ToUpper(dept)).Replace(item))
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return b
}

// Coordinator is the projector's coordinator API, its admin rebuild and
// the evaluation API.
func Coordinator() Fragment { return file("coordinator.json") }

// Audit is the auditor API.
func Audit() Fragment { return file("audit.json") }

type document struct {
	OpenAPI    string                                `json:"openapi"`
	Info       map[string]any                        `json:"info"`
	Servers    []map[string]any                      `json:"servers,omitempty"`
	Security   []map[string][]string                 `json:"security,omitempty"`
	Paths      map[string]json.RawMessage            `json:"paths"`
	Components map[string]map[string]json.RawMessage `json:"components"`
}

// Document is the OpenAPI 3.1 document of a server named title that runs
// the APIs of parts: the shared components (Problem, the bearer token)
// with every part's paths and components. Parts may share a component
// only if they define it alike.
func Document(title string, parts ...Fragment) ([]byte, error) {
	var doc document
	if err := json.Unmarshal(file("common.json"), &doc); err != nil {
		return nil, fmt.Errorf("openapi: common.json: %w", err)
	}
	doc.Info["title"] = "Job og Familie: " + title
	doc.Paths = map[string]json.RawMessage{}
	for i, part := range parts {
		var f document
		if err := json.Unmarshal(part, &f); err != nil {
			return nil, fmt.Errorf("openapi: fragment %d: %w", i, err)
		}
		for p, item := range f.Paths {
			if _, dup := doc.Paths[p]; dup {
				return nil, fmt.Errorf("openapi: path %s described twice", p)
			}
			doc.Paths[p] = item
		}
		for kind, named := range f.Components {
			if doc.Components[kind] == nil {
				doc.Components[kind] = map[string]json.RawMessage{}
			}
			for _, name := range slices.Sorted(maps.Keys(named)) {
				if old, ok := doc.Components[kind][name]; ok && !sameJSON(old, named[name]) {
					return nil, fmt.Errorf("openapi: components/%s/%s described differently by two fragments", kind, name)
				}
				doc.Components[kind][name] = named[name]
			}
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

// Erasure is the data protection officer's erasure and retention API.
func Erasure() Fragment { return file("erasure.json") }
