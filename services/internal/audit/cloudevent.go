package audit

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"mime"
	"net/url"
	"strings"
	"time"
)

// ceCheck decides, from the top-level members of a stored JSON object,
// whether a replay may pass it on as a CloudEvent with jfsequence and
// jfrecordedat added: whether the strict readers of the CloudEvents SDKs
// (Go: event.Event.UnmarshalJSON and Validate; JavaScript: new
// CloudEvent(obj, true)) accept it. Events stored by ingest always pass:
// ingest holds them to stricter rules. The rest comes only from direct
// NATS publishes, and a replay writes those as unreadable messages.
//
// It checks what those readers check: specversion "1.0"; id, source and
// type non-empty strings; attribute names of lower-case letters and digits
// (data_base64 aside), none starting with jf; subject and datacontenttype
// non-empty strings; time an RFC 3339 timestamp; source a URI reference and
// dataschema an absolute URI; extension values strings, booleans or 32-bit
// integers; not both data and data_base64, data_base64 valid base64, and
// data that is not a JSON string only with a JSON media type.
type ceCheck struct {
	bad        bool
	required   uint8 // bits of requiredBits seen
	data       bool
	dataString bool
	base64     bool
	mediaType  string // of datacontenttype
}

const (
	seenSpecVersion = 1 << iota
	seenID
	seenSource
	seenType
	requiredBits = seenSpecVersion | seenID | seenSource | seenType
)

// ReservedPrefix starts the names of the attributes a replay adds.
const ReservedPrefix = "jf"

func (c *ceCheck) ok() bool {
	if c.bad || c.required != requiredBits || c.data && c.base64 {
		return false
	}
	if c.data && !c.dataString {
		// The Go SDK reads data as a string unless the media type is JSON.
		switch c.mediaType {
		case "", "application/json", "text/json", "application/cloudevents+json", "application/cloudevents-batch+json":
		default:
			return false
		}
	}
	return true
}

// member looks at one top-level member: its name (unescaped) and its raw
// JSON value.
func (c *ceCheck) member(name, v []byte) {
	if c.bad {
		return
	}
	switch string(name) {
	case "data":
		c.data, c.dataString = true, v[0] == '"'
		return
	case "data_base64":
		s, ok := jsonStringValue(v)
		if ok {
			_, err := base64.StdEncoding.DecodeString(string(s))
			ok = err == nil
		}
		c.base64, c.bad = true, !ok
		return
	}
	if !attributeName(name) || bytes.HasPrefix(name, []byte(ReservedPrefix)) {
		c.bad = true
		return
	}
	s, isString := jsonStringValue(v)
	ok := isString
	switch string(name) {
	case "specversion":
		c.required |= seenSpecVersion
		ok = ok && string(s) == "1.0"
	case "id":
		c.required |= seenID
		ok = ok && len(s) > 0
	case "type":
		c.required |= seenType
		ok = ok && len(s) > 0
	case "source":
		c.required |= seenSource
		ok = ok && uriReference(s)
	case "subject":
		ok = ok && len(s) > 0
	case "time":
		ok = ok && timestamp(s)
	case "datacontenttype":
		switch {
		case !ok || len(s) == 0:
			ok = false
		case string(s) == "application/json":
			// What ingest stamps on every event: no need to parse it.
			c.mediaType = "application/json"
		default:
			mt, _, err := mime.ParseMediaType(string(s))
			ok, c.mediaType = err == nil, mt
		}
	case "dataschema":
		ok = ok && absoluteURI(s)
	case "datacontentencoding", "schemaurl":
		ok = false // CloudEvents 0.3, which the JavaScript SDK refuses in 1.0
	default:
		ok = isString || extensionScalar(v)
	}
	c.bad = !ok
}

// attributeName is the CloudEvents rule: lower-case ASCII letters and
// digits.
func attributeName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// jsonStringValue is the content of a JSON string value, unescaped, or
// false when v is not a string.
func jsonStringValue(v []byte) ([]byte, bool) {
	if len(v) < 2 || v[0] != '"' {
		return nil, false
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return v[1 : len(v)-1], true
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return nil, false
	}
	return []byte(s), true
}

// extensionScalar: a boolean or an integer in the 32-bit range of the
// CloudEvents Integer (the Go SDK refuses others; the JavaScript SDK
// refuses fractions).
func extensionScalar(v []byte) bool {
	switch string(v) {
	case "true", "false":
		return true
	}
	n := v
	if len(n) > 0 && n[0] == '-' {
		n = n[1:]
	}
	if len(n) == 0 || len(n) > 10 || (n[0] == '0' && len(n) > 1) {
		return false
	}
	var x int64
	for _, c := range n {
		if c < '0' || c > '9' {
			return false
		}
		x = x*10 + int64(c-'0')
	}
	if v[0] == '-' {
		return x <= 1<<31
	}
	return x < 1<<31
}

// timestamp is RFC 3339 (YYYY-MM-DDThh:mm:ss[.frac](Z|±hh:mm)) as both
// the Go SDK's time.Parse and the JavaScript SDK's date-time format accept
// it.
func timestamp(b []byte) bool {
	if len(b) < 20 {
		return false
	}
	for i, c := range b[:19] {
		switch i {
		case 4, 7:
			if c != '-' {
				return false
			}
		case 10:
			if c != 'T' {
				return false
			}
		case 13, 16:
			if c != ':' {
				return false
			}
		default:
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	rest := b[19:]
	if rest[0] == '.' {
		j := 1
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		if j == 1 {
			return false
		}
		rest = rest[j:]
	}
	switch {
	case len(rest) == 1 && rest[0] == 'Z':
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
	default:
		return false
	}
	_, err := time.Parse(time.RFC3339Nano, string(b))
	return err == nil
}

// uriChar: the characters of a URI (RFC 3986), percent-encoding included.
func uriChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("-._~:/?#[]@!$&'()*+,;=%", c) >= 0
}

// plainPath: only characters that make a URI reference without parsing
// (letters, digits, - . _ ~ /), the form of every source ingest accepts.
func plainPath(b []byte) bool {
	for _, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.', c == '_', c == '~', c == '/':
		default:
			return false
		}
	}
	return true
}

func parseURI(b []byte) (*url.URL, bool) {
	for _, c := range b {
		if !uriChar(c) {
			return nil, false
		}
	}
	u, err := url.Parse(string(b))
	return u, err == nil
}

func uriReference(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	if plainPath(b) && !bytes.HasPrefix(b, []byte("//")) {
		return true
	}
	_, ok := parseURI(b)
	return ok
}

func absoluteURI(b []byte) bool {
	if rest, ok := bytes.CutPrefix(b, []byte("https://")); ok && len(rest) > 0 && rest[0] != '/' && plainPath(rest) {
		return true
	}
	u, ok := parseURI(b)
	return ok && u.IsAbs() && u.Opaque == "" && u.Host != ""
}
