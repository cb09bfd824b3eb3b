package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"kk.dk/jobogfamilie/events"
)

// ContentBatch is the media type of a CloudEvents batch (CONTRACT.md).
const ContentBatch = "application/cloudevents-batch+json"

// MaxBatch is the most events ingest takes in one request.
const MaxBatch = 500

// Options say what to load and where.
type Options struct {
	// BaseURL is where the ingest API is, e.g. http://127.0.0.1:8080 for
	// the standalone.
	BaseURL string
	// DepartmentURLs overrides BaseURL per department, for a deployment
	// with one process per department.
	DepartmentURLs map[events.Department]string
	// Seed chooses the data; the same seed gives the same events.
	Seed int64
	// Families defaults to DefaultFamilies.
	Families int
	// Progress receives a line now and then; nil is silent.
	Progress io.Writer
	// Client defaults to one with a generous timeout.
	Client *http.Client
	// ReadyTimeout bounds the wait for /readyz before posting; 0 is two
	// minutes.
	ReadyTimeout time.Duration
	// DPOToken, when set, is a data protection officer's bearer token
	// (dev-dpo in the dev config): after the events, the load erases one
	// family, ErasedFamily, through POST /v1/privacy/families/{id}/erase
	// at BaseURL, so that the demo shows an erased family. Empty erases
	// nothing.
	DPOToken string
}

// Stats is what a load did.
type Stats struct {
	Families int
	// Events is the number of events posted; each was either stored now
	// or was stored before (Duplicates).
	Events     int
	Duplicates int
	// Requests is the number of batches posted; Retries counts those
	// sent again (503, or a 409 from a lagging view: see errStale).
	Requests, Retries int
	PerDepartment     map[events.Department]int
	PerType           map[string]int
	// Erased is the family erased (Options.DPOToken), "" if none.
	// ErasureRecorded is false when it was erased by an earlier load.
	Erased          string
	ErasureRecorded bool
}

// Stored is the number of events the load added to the store.
func (s Stats) Stored() int { return s.Events - s.Duplicates }

// Load generates the demo and posts it through the ingest API: batches of
// one department's events, each family's events in the order of their
// time, so that the stream holds every family's history in order and no
// invariant is broken on the way. It waits for /readyz first. An event
// stored before answers as a duplicate, so loading twice is harmless.
func Load(ctx context.Context, o Options) (Stats, error) {
	if o.Families <= 0 {
		o.Families = DefaultFamilies
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 2 * time.Minute}
	}
	l := &loader{o: o, stats: Stats{Families: o.Families,
		PerDepartment: map[events.Department]int{}, PerType: map[string]int{}}}
	for _, d := range events.Departments {
		if l.url(d) == "" {
			return l.stats, fmt.Errorf("demo: no URL for department %s", d)
		}
	}
	if o.DPOToken != "" && o.BaseURL == "" {
		return l.stats, errors.New("demo: a DPO token erases a family at the base URL, and there is none")
	}
	if err := l.waitReady(ctx); err != nil {
		return l.stats, err
	}
	evs := Generate(o.Seed, o.Families)
	remaining := map[string]int{}
	for _, e := range evs {
		remaining[e.FamilyID]++
	}
	l.progress("demo: loading %d events of %d families (seed %d)", len(evs), o.Families, o.Seed)
	done, lastLine := 0, time.Now()
	for _, b := range batches(evs, familyWindow, MaxBatch) {
		dups, err := l.post(ctx, b)
		if err != nil {
			return l.stats, err
		}
		l.stats.Requests++
		l.stats.Events += len(b)
		l.stats.Duplicates += dups
		before := done
		for _, e := range b {
			l.stats.PerDepartment[e.Department]++
			l.stats.PerType[e.Type]++
			if remaining[e.FamilyID]--; remaining[e.FamilyID] == 0 {
				done++
			}
		}
		// A line per window of families, and one a second in between.
		if done/familyWindow != before/familyWindow || (done == o.Families && done != before) || time.Since(lastLine) > time.Second {
			l.progress("demo: %d/%d families, %d events (%d duplicates)", done, o.Families, l.stats.Events, l.stats.Duplicates)
			lastLine = time.Now()
		}
	}
	if o.DPOToken != "" {
		if err := l.erase(ctx, ErasedFamily(o.Seed, o.Families)); err != nil {
			return l.stats, err
		}
	}
	return l.stats, nil
}

// ErasureReason is the legal ground the demo's erasure gives.
const ErasureReason = "Demo: familien har anmodet om sletning (GDPR art. 17)"

// erase has the data protection officer erase the family, once all its
// events are stored. An erasure repeated by a second load answers 200 and
// changes nothing.
func (l *loader) erase(ctx context.Context, familyID string) error {
	if familyID == "" {
		l.progress("demo: no family of %d has an ended course that the dev coordinator reads; none erased", l.o.Families)
		return nil
	}
	body, err := json.Marshal(map[string]string{"reason": ErasureReason})
	if err != nil {
		return err
	}
	url := strings.TrimRight(l.o.BaseURL, "/") + "/v1/privacy/families/" + familyID + "/erase"
	wait := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+l.o.DPOToken)
		status, raw, err := l.do(req)
		switch {
		case err == nil && (status == http.StatusCreated || status == http.StatusOK):
			var r struct {
				Recorded     bool `json:"recorded"`
				KeyDestroyed bool `json:"keyDestroyed"`
			}
			if err := json.Unmarshal(raw, &r); err != nil || !r.KeyDestroyed {
				return fmt.Errorf("demo: erasing family %s: unexpected answer %d %s", familyID, status, bytes.TrimSpace(raw))
			}
			l.stats.Erased, l.stats.ErasureRecorded = familyID, r.Recorded
			if r.Recorded {
				l.progress("demo: family %s erased: its personal text now reads [slettet] (docs/PRIVACY.md)", familyID)
			} else {
				l.progress("demo: family %s already erased by an earlier load: nothing more erased", familyID)
			}
			return nil
		case err == nil && status != http.StatusServiceUnavailable:
			return fmt.Errorf("demo: erasing family %s: %d %s", familyID, status, bytes.TrimSpace(raw))
		case attempt == 8:
			if err == nil {
				err = fmt.Errorf("%d %s", status, bytes.TrimSpace(raw))
			}
			return fmt.Errorf("demo: erasing family %s: %w", familyID, err)
		}
		l.stats.Retries++
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// do sends req and reads the answer.
func (l *loader) do(req *http.Request) (int, []byte, error) {
	resp, err := l.o.Client.Do(req)
	if err != nil {
		if req.Context().Err() != nil {
			return 0, nil, req.Context().Err()
		}
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, raw, err
}

// familyWindow is how many families are loaded side by side: enough that
// a batch carries several families' events, few enough that progress
// counts finished families steadily.
const familyWindow = 10

type loader struct {
	o     Options
	stats Stats
}

func (l *loader) url(d events.Department) string {
	u := l.o.BaseURL
	if v := l.o.DepartmentURLs[d]; v != "" {
		u = v
	}
	return strings.TrimRight(u, "/")
}

func (l *loader) progress(format string, args ...any) {
	if l.o.Progress != nil {
		fmt.Fprintf(l.o.Progress, format+"\n", args...)
	}
}

// waitReady polls /readyz of every distinct URL: a service that is still
// catching up with the stream would otherwise answer 503.
func (l *loader) waitReady(ctx context.Context) error {
	timeout := l.o.ReadyTimeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var urls []string
	for _, d := range events.Departments {
		if u := l.url(d); !slices.Contains(urls, u) {
			urls = append(urls, u)
		}
	}
	for _, u := range urls {
		var last error
		for {
			last = l.ready(ctx, u)
			if last == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("demo: %s is not ready: %w", u, last)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

func (l *loader) ready(ctx context.Context, base string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := l.o.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("readyz %d: %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	return nil
}

// batchResponse is ingest's answer to a stored batch.
type batchResponse struct {
	Events []struct {
		ID        string `json:"id"`
		Sequence  uint64 `json:"sequence"`
		Duplicate bool   `json:"duplicate"`
	} `json:"events"`
}

// errRetry marks answers worth sending again: the batch carries the same
// ids, so a retry after an unknown outcome cannot store anything twice.
//
// errStale is a 409 from an ingest service whose view of the family lags
// behind another process's write. With one process per department, each
// ingest checks against its own copy of the stream, which learns of the
// other departments' events a moment after they are stored: a batch posted
// right after its family's enrolment by SOF may find the family not yet
// enrolled at BIF. The demo's events are proven in order against the
// family model, so such a conflict clears once the view has caught up;
// it is retried briefly, and a real conflict still fails the load.
var (
	errRetry = errors.New("retry")
	errStale = fmt.Errorf("conflict with a lagging view: %w", errRetry)
)

// post sends one batch, retrying while the store is unavailable, and
// returns how many of its events were stored before.
func (l *loader) post(ctx context.Context, b []Event) (int, error) {
	dept := b[0].Department
	body := make([]byte, 0, 512*len(b))
	body = append(body, '[')
	for i, e := range b {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, e.JSON...)
	}
	body = append(body, ']')
	wait, conflicts := 250*time.Millisecond, 0
	for attempt := 1; ; attempt++ {
		dups, err := l.try(ctx, dept, body, b)
		if errors.Is(err, errStale) && conflicts < 40 {
			// About four seconds in all, far more than a view lags.
			conflicts++
			attempt--
			l.stats.Retries++
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(time.Duration(conflicts) * 5 * time.Millisecond):
			}
			continue
		}
		if err == nil || !errors.Is(err, errRetry) || attempt == 8 {
			return dups, err
		}
		l.stats.Retries++
		l.progress("demo: %v; retrying in %s", err, wait)
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

func (l *loader) try(ctx context.Context, dept events.Department, body []byte, b []Event) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url(dept)+"/departments/"+string(dept)+"/v1/events", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", ContentBatch)
	req.Header.Set("Authorization", "Bearer dev-"+string(dept))
	resp, err := l.o.Client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, fmt.Errorf("demo: posting %d %s events: %w: %w", len(b), dept, errRetry, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return 0, fmt.Errorf("demo: reading the answer: %w: %w", errRetry, err)
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusCreated:
	case http.StatusServiceUnavailable:
		return 0, fmt.Errorf("demo: %s ingest: 503 %s: %w", dept, bytes.TrimSpace(raw), errRetry)
	case http.StatusConflict:
		return 0, fmt.Errorf("demo: %s ingest refused a batch of %d events (%s … %s): 409 %s: %w",
			dept, len(b), b[0].ID, b[len(b)-1].ID, bytes.TrimSpace(raw), errStale)
	default:
		return 0, fmt.Errorf("demo: %s ingest refused a batch of %d events (%s … %s): %d %s",
			dept, len(b), b[0].ID, b[len(b)-1].ID, resp.StatusCode, bytes.TrimSpace(raw))
	}
	var r batchResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		return 0, fmt.Errorf("demo: %s ingest: unreadable answer: %w", dept, err)
	}
	if len(r.Events) != len(b) {
		return 0, fmt.Errorf("demo: %s ingest answered for %d of %d events", dept, len(r.Events), len(b))
	}
	dups := 0
	for i, e := range r.Events {
		if e.ID != b[i].ID {
			return 0, fmt.Errorf("demo: %s ingest answered for %q at %d, sent %q", dept, e.ID, i, b[i].ID)
		}
		if e.Duplicate {
			dups++
		}
	}
	return dups, nil
}

// batches plans the posts: each one department's events, at most max of
// them, and each family's events in their order. Families are taken window
// at a time; within a window, each post takes the department with the
// most events ready at the head of the families' queues, so that batches
// stay large although a family's departments alternate.
func batches(evs []Event, window, max int) [][]Event {
	var order []string
	queues := map[string][]Event{}
	for _, e := range evs {
		if _, ok := queues[e.FamilyID]; !ok {
			order = append(order, e.FamilyID)
		}
		queues[e.FamilyID] = append(queues[e.FamilyID], e)
	}
	var out [][]Event
	for start := 0; start < len(order); start += window {
		fams := order[start:min(start+window, len(order))]
		for {
			ready := map[events.Department]int{}
			for _, f := range fams {
				q := queues[f]
				for i := 0; i < len(q) && q[i].Department == q[0].Department; i++ {
					ready[q[0].Department]++
				}
			}
			best, n := events.Department(""), 0
			for _, d := range events.Departments {
				if ready[d] > n {
					best, n = d, ready[d]
				}
			}
			if n == 0 {
				break
			}
			var b []Event
			for _, f := range fams {
				q := queues[f]
				i := 0
				for i < len(q) && q[i].Department == best && len(b) < max {
					b = append(b, q[i])
					i++
				}
				queues[f] = q[i:]
			}
			out = append(out, b)
		}
	}
	return out
}
