package eventstore

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                           "",
		"nats://127.0.0.1:4222":      "nats://127.0.0.1:4222",
		"nats://sof:pw@nats-1:4222":  "nats://sof:xxxxx@nats-1:4222",
		"nats://s3cr3t-token@h:4222": "nats://xxxxx@h:4222",
		"tls://sof:pw@nats-1:4222,tls://sof:pw@nats-2:4222,tls://nats-3:4222": "tls://sof:xxxxx@nats-1:4222,tls://sof:xxxxx@nats-2:4222,tls://nats-3:4222",
		"sof:pw@h:4222":             "sof:xxxxx@h:4222",
		"nats://sof:p@w:rd@h:4222":  "nats://sof:xxxxx@h:4222",
		"nats://sof:p%2Fw@bad host": "nats://sof:xxxxx@bad host",
		"nats://sof:@h:4222":        "nats://sof:xxxxx@h:4222",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// A URL that does not parse is quoted by url.Parse's error, password
// and all; the error Connect returns has neither the password nor the
// token, and still wraps url.Parse's.
func TestConnectErrorHasNoPassword(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"nats://sof:Pw-7f2c@bad host:4222", "nats://sof:Pw-7f2c@h:1,nats://Pw-7f2c@bad host:1"} {
		_, err := Connect(u, nil, "test")
		if err == nil {
			t.Fatalf("%s: connected", u)
		}
		if strings.Contains(err.Error(), "Pw-7f2c") {
			t.Errorf("the password is in the error: %v", err)
		}
		var ue *url.Error
		if !errors.As(err, &ue) {
			t.Errorf("%v does not wrap the *url.Error", err)
		}
	}
}
