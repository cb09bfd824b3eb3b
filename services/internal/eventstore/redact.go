package eventstore

import (
	"net/url"
	"strings"
)

// redacted stands for a password or token taken out of a NATS URL, as
// url.URL.Redacted writes it.
const redacted = "xxxxx"

// RedactURL is a NATS URL list (comma-separated, as -nats-url takes it)
// fit for a log or a banner: each URL's password is replaced by xxxxx
// and a token (user info without a colon) as a whole; user names, hosts
// and ports stay. deploy/ puts each service's NATS password into
// JF_NATS_URL, and the password belongs in that env file only.
func RedactURL(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		prefix, info, rest, ok := splitUserinfo(p)
		if !ok {
			continue
		}
		if user, _, password := strings.Cut(info, ":"); password {
			parts[i] = prefix + user + ":" + redacted + rest
		} else {
			parts[i] = prefix + redacted + rest
		}
	}
	return strings.Join(parts, ",")
}

// RedactURLError is err with every password and token of urls taken out
// of its message, for errors that may quote a URL (url.Parse's do); it
// still wraps err for errors.Is and errors.As.
func RedactURLError(err error, urls string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, p := range strings.Split(urls, ",") {
		_, info, _, ok := splitUserinfo(p)
		if !ok {
			continue
		}
		secret := info
		if _, password, found := strings.Cut(info, ":"); found {
			secret = password
		}
		if secret == "" {
			continue
		}
		msg = strings.ReplaceAll(msg, secret, redacted)
		if plain, err := url.PathUnescape(secret); err == nil && plain != "" {
			msg = strings.ReplaceAll(msg, plain, redacted)
		}
	}
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

// redactedError is an error whose message had a secret taken out.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// splitUserinfo splits one URL around its user info: prefix is the
// scheme with "://" (if any), rest starts at the "@" after the user info.
// The last "@" ends the user info, as url.Parse has it, so that a
// malformed URL gives away no more of its password than a good one.
func splitUserinfo(u string) (prefix, info, rest string, ok bool) {
	start := 0
	if i := strings.Index(u, "://"); i > 0 && isScheme(strings.TrimSpace(u[:i])) {
		start = i + len("://")
	}
	at := strings.LastIndex(u[start:], "@")
	if at < 0 {
		return "", "", "", false
	}
	return u[:start], u[start : start+at], u[start+at:], true
}

// isScheme reports whether s is a URL scheme (RFC 3986: a letter, then
// letters, digits, "+", "-" and ".").
func isScheme(s string) bool {
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return s != ""
}
