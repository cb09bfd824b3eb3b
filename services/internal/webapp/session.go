package webapp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"kk.dk/jobogfamilie/services/internal/auth"
)

// Session lifetimes (OWASP ASVS 3.3: an absolute and an idle timeout).
const (
	SessionLifetime = 8 * time.Hour
	SessionIdle     = 30 * time.Minute
	// maxSessions bounds the store: a login beyond it first drops expired
	// sessions, then is refused.
	maxSessions = 100_000
)

// session is one signed-in person, kept on the server; the cookie holds
// only its random id.
type session struct {
	principal auth.Principal
	created   time.Time
	lastSeen  time.Time
	csrf      string
	// purposes are the reasons given for opening each family, by familyId.
	purposes map[string]string
	// idToken is the IdP's ID token of a login through it, the hint of
	// its RP-initiated logout.
	idToken string
}

// seen is what a person had seen of a family when last opening it.
type seen struct {
	events   int
	sequence uint64
}

// sessions is the server-side store. Sessions are keyed by the SHA-256 of
// their id, so a dump of the store does not hold usable cookies.
type sessions struct {
	mu   sync.Mutex
	byID map[[sha256.Size]byte]*session
	// lastSeen is per person (auth.Principal.Key: an IdP user's sub, not
	// their user name), not per session: "new since you last opened it"
	// survives logging out and in again.
	lastSeen map[string]map[string]seen
	now      func() time.Time
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{byID: map[[sha256.Size]byte]*session{}, lastSeen: map[string]map[string]seen{}, now: now}
}

// random returns n random bytes, base64url.
func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create makes a session with a fresh 256-bit id and CSRF token.
func (s *sessions) create(pr auth.Principal) (string, *session, bool) {
	id := random(32)
	now := s.now()
	ss := &session{principal: pr, created: now, lastSeen: now, csrf: random(32), purposes: map[string]string{}}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byID) >= maxSessions {
		for k, v := range s.byID {
			if s.expired(v, now) {
				delete(s.byID, k)
			}
		}
		if len(s.byID) >= maxSessions {
			return "", nil, false
		}
	}
	s.byID[sha256.Sum256([]byte(id))] = ss
	return id, ss, true
}

func (s *sessions) expired(ss *session, now time.Time) bool {
	return now.Sub(ss.created) >= SessionLifetime || now.Sub(ss.lastSeen) >= SessionIdle
}

// lookupResult says why a request has no session.
type lookupResult int

const (
	noSession      lookupResult = iota // no cookie
	expiredSession                     // a cookie of an unknown, ended or expired session
	validSession
)

// get finds the session of id and marks it used; an expired one is
// removed.
func (s *sessions) get(id string) (*session, lookupResult) { return s.lookup(id, true) }

// peek is get without marking the session used: for the requests the
// page's script makes by itself, which are not the person's activity.
func (s *sessions) peek(id string) (*session, lookupResult) { return s.lookup(id, false) }

// lookup finds the session of id, marking it used when used is set; an
// expired one is removed.
func (s *sessions) lookup(id string, used bool) (*session, lookupResult) {
	if id == "" {
		return nil, noSession
	}
	key := sha256.Sum256([]byte(id))
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.byID[key]
	if !ok {
		return nil, expiredSession
	}
	if s.expired(ss, now) {
		delete(s.byID, key)
		return nil, expiredSession
	}
	if used {
		ss.lastSeen = now
	}
	return ss, validSession
}

// alive reports whether the session of id is still valid, without
// counting the question as activity: an open live view alone does not
// keep a session from going idle.
func (s *sessions) alive(id string) bool {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.byID[sha256.Sum256([]byte(id))]
	return ok && !s.expired(ss, now)
}

// remove ends the session of id.
func (s *sessions) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, sha256.Sum256([]byte(id)))
}

func (s *sessions) purpose(ss *session, familyID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ss.purposes[familyID]
}

func (s *sessions) setPurpose(ss *session, familyID, purpose string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss.purposes[familyID] = purpose
}

// markSeen records what the person has now seen of the family and
// returns what they had seen before (zero when never).
func (s *sessions) markSeen(who, familyID string, now seen) (seen, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.lastSeen[who]
	if m == nil {
		m = map[string]seen{}
		s.lastSeen[who] = m
	}
	before, ok := m[familyID]
	m[familyID] = now
	return before, ok
}

func (s *sessions) seenOf(who string) map[string]seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]seen, len(s.lastSeen[who]))
	for k, v := range s.lastSeen[who] {
		out[k] = v
	}
	return out
}

// validCSRF compares a submitted token with the expected one in constant
// time.
func validCSRF(want, got string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// loginCSRF is the login form's token before any session exists: the
// login cookie holds a random nonce and the form its HMAC under the
// process's key (double submit, signed), so no server state is made for
// someone who merely opens the login page.
func loginCSRF(key []byte, nonce string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("login:" + nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// cookie names: with Secure, the __Host- prefix also pins the cookie to
// this host and path /.
func (a *App) sessionCookieName() string {
	if a.opts.SecureCookie {
		return "__Host-jf_session"
	}
	return "jf_session"
}

func (a *App) loginCookieName() string {
	if a.opts.SecureCookie {
		return "__Host-jf_login"
	}
	return "jf_login"
}

func (a *App) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: a.opts.SecureCookie, SameSite: http.SameSiteLaxMode,
	})
}

func cookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}
