package ingest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/problem"
)

// An earlier version of an event type is accepted, stored as sent and
// read everywhere as the latest version, until the sunset configured for
// it; after it, an event of that version is refused unless its id is
// stored already (a re-send of one stored before, answered as any
// re-send). Every answer to it, a refusal too, says so in the headers a
// client library can act on: Deprecation (RFC 9745), Link to the
// successor's schema (rel="successor-version", RFC 5829) and, once one is
// configured, Sunset (RFC 8594).

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// sunset refuses an event of an earlier version whose sunset has come:
// 422, naming the version to send instead.
func (s *Service) sunset(spec events.Spec) *problem.Problem {
	at, ok := s.Sunsets[spec.Type()]
	if !ok || s.now().Before(at) {
		return nil
	}
	next := spec.Latest()
	p := problem.New(http.StatusUnprocessableEntity, "version-sunset", "Event type version no longer accepted",
		fmt.Sprintf("%s is no longer accepted since %s: send %s (schema %s)", spec.Type(), at.UTC().Format(time.RFC3339), next.Type(), next.SchemaURL()))
	p.Errors = []problem.Field{{Pointer: "/type", Detail: "no longer accepted; send " + next.Type()}}
	return p
}

// sunsetRefusal decides on the events at sunset (indices into items), all
// of versions past their sunset: the first whose id is not stored yet is
// refused (its index and problem). An id stored is a client's re-send of
// what it sent before the sunset: the write answers it as any re-send, a
// duplicate with its original sequence, or 409 when its content differs.
func (s *Service) sunsetRefusal(items []Item, sunset []int) (int, *problem.Problem, error) {
	have, err := s.Writer.lookUp(items, sunset)
	if err != nil {
		return 0, nil, err
	}
	for k, i := range sunset {
		if !have[k].Stored {
			return i, s.sunset(items[i].Env.Spec), nil
		}
	}
	return 0, nil, nil
}

// deprecation sets the headers of an answer to a request whose events are
// of types (as sent; types the catalog does not know are passed over):
// when any is of an earlier version, one Link per successor, and the
// earliest Deprecation and Sunset of them. Every answer to such a request
// carries them, a refusal as much as a success.
func (s *Service) deprecation(h http.Header, types []string) {
	var earlier []events.Spec
	for _, typ := range types {
		if spec, ok := events.ByType(typ); ok && !spec.IsLatest() {
			earlier = append(earlier, spec)
		}
	}
	if len(earlier) == 0 {
		return
	}
	var deprecated, sunset time.Time
	var links []string
	for _, spec := range earlier {
		if d := spec.Deprecated(); deprecated.IsZero() || d.Before(deprecated) {
			deprecated = d
		}
		if at, ok := s.Sunsets[spec.Type()]; ok && (sunset.IsZero() || at.Before(sunset)) {
			sunset = at
		}
		next, _ := spec.Successor()
		link := "<" + next.SchemaURL() + `>; rel="successor-version"`
		if !slices.Contains(links, link) {
			links = append(links, link)
		}
	}
	// RFC 9745: an Item of type Date, @<seconds since the epoch>.
	h.Set("Deprecation", "@"+strconv.FormatInt(deprecated.Unix(), 10))
	for _, l := range links {
		h.Add("Link", l)
	}
	if !sunset.IsZero() {
		h.Set("Sunset", sunset.UTC().Format(http.TimeFormat))
	}
}
