package catalogen

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Node is a JSON value that keeps the order of an object's members, so that
// struct fields follow the schema's properties as they are written.
type Node struct {
	Raw    json.RawMessage
	Keys   []string // object members in file order; nil for other values
	Values map[string]*Node
}

func parseNode(b []byte) (*Node, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var raw json.RawMessage
	if err := d.Decode(&raw); err != nil {
		return nil, err
	}
	return nodeOf(raw)
}

func nodeOf(raw json.RawMessage) (*Node, error) {
	n := &Node{Raw: raw}
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return n, nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	if _, err := d.Token(); err != nil { // {
		return nil, err
	}
	n.Values = map[string]*Node{}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		key := tok.(string)
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return nil, err
		}
		if _, dup := n.Values[key]; dup {
			return nil, fmt.Errorf("member %q twice in one object", key)
		}
		child, err := nodeOf(v)
		if err != nil {
			return nil, err
		}
		n.Keys = append(n.Keys, key)
		n.Values[key] = child
	}
	return n, nil
}

// Get returns an object member.
func (n *Node) Get(key string) (*Node, bool) {
	if n == nil || n.Values == nil {
		return nil, false
	}
	v, ok := n.Values[key]
	return v, ok
}

// String returns a member that is a JSON string, or "".
func (n *Node) String(key string) string {
	v, ok := n.Get(key)
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(v.Raw, &s) != nil {
		return ""
	}
	return s
}

// Strings returns a member that is an array of strings, or nil.
func (n *Node) Strings(key string) []string {
	v, ok := n.Get(key)
	if !ok {
		return nil
	}
	var s []string
	if json.Unmarshal(v.Raw, &s) != nil {
		return nil
	}
	return s
}

// walk visits n and every schema below it through properties and items,
// with the JSON pointer of the data it describes ("/-" for array items).
func (n *Node) walk(ptr string, f func(ptr string, n *Node)) {
	f(ptr, n)
	if props, ok := n.Get("properties"); ok {
		for _, k := range props.Keys {
			props.Values[k].walk(ptr+"/"+k, f)
		}
	}
	if items, ok := n.Get("items"); ok {
		items.walk(ptr+"/-", f)
	}
}
