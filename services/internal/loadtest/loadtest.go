// Package loadtest drives the running system with concurrent department
// clients for a bounded time over loopback, then checks that the events
// acknowledged, the events in the stream and the entries in the read model
// are the same number. `make loadtest` runs it long; `make test` briefly.
package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"kk.dk/jobogfamilie/events"
)

// Options size a run.
type Options struct {
	BaseURL string
	// Clients post concurrently, each for its own department in turn and
	// its own families.
	Clients  int
	Duration time.Duration
	// FamiliesPerClient spreads each client's events.
	FamiliesPerClient int
	// BatchEvery makes every n-th request a batch of BatchSize (0: none).
	BatchEvery, BatchSize int
	Client                *http.Client
}

// Result is what a run measured.
type Result struct {
	Requests, Acked int
	// Errors counts answers other than 2xx by status (0: transport error).
	Errors   map[int]int
	Elapsed  time.Duration
	Families []string
	// IDs of every acknowledged event.
	IDs map[string]bool
	// Latencies of single-event requests, sorted.
	Latencies []time.Duration
}

// Throughput is acknowledged events a second.
func (r Result) Throughput() float64 { return float64(r.Acked) / r.Elapsed.Seconds() }

// Percentile of single-event latency.
func (r Result) Percentile(p int) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	return r.Latencies[min(len(r.Latencies)-1, len(r.Latencies)*p/100)]
}

var depts = []struct {
	dept  events.Department
	token string
	data  func(n int) events.Payload
}{
	{events.SOF, "dev-sof", func(n int) events.Payload {
		return &events.MeetingHeld{Kind: "family", Participants: []string{"E1001"}}
	}},
	{events.BIF, "dev-bif", func(n int) events.Payload {
		return &events.EmploymentStarted{PersonID: fmt.Sprintf("P%d", n%7), Kind: "small-job", HoursPerWeek: 8}
	}},
	{events.BUF, "dev-buf", func(n int) events.Payload {
		return &events.WellbeingMeasured{ChildID: fmt.Sprintf("C%d", n%3), Instrument: "trivselsmaaling", Score: float64(n % 5)}
	}},
	{events.SUF, "dev-suf", func(n int) events.Payload {
		return &events.HealthAssessed{PersonID: fmt.Sprintf("P%d", n%7), BarrierToWork: n%2 == 0}
	}},
}

// Run posts until the duration is over; each request is bounded by the
// client's timeout, so the run stops by itself.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: o.Clients}}
	}
	o.FamiliesPerClient = max(o.FamiliesPerClient, 1)
	res := Result{Errors: map[int]int{}, IDs: map[string]bool{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var seq atomic.Int64
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	start := time.Now()
	for c := range o.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := depts[c%len(depts)]
			for i := 0; ctx.Err() == nil; i++ {
				n := int(seq.Add(1))
				size := 1
				if o.BatchEvery > 0 && i%o.BatchEvery == o.BatchEvery-1 {
					size = max(o.BatchSize, 1)
				}
				var parts [][]byte
				var ids []string
				for k := range size {
					fam := fmt.Sprintf("L%02d-%d", c, (i+k)%o.FamiliesPerClient)
					id := fmt.Sprintf("load-%d-%d-%d", c, i, k)
					ce, err := events.Build(d.dept, fam, d.data(n+k), events.WithID(id))
					if err != nil {
						panic(err)
					}
					b, _ := events.Marshal(ce)
					parts, ids = append(parts, b), append(ids, id)
				}
				ctype, body := "application/cloudevents+json", parts[0]
				if size > 1 {
					ctype = "application/cloudevents-batch+json"
					body = append(append([]byte("["), bytes.Join(parts, []byte(","))...), ']')
				}
				t0 := time.Now()
				status := post(o.Client, o.BaseURL+"/departments/"+string(d.dept)+"/v1/events", d.token, ctype, body)
				lat := time.Since(t0)
				mu.Lock()
				res.Requests++
				if status == 200 || status == 201 {
					res.Acked += len(ids)
					for _, id := range ids {
						res.IDs[id] = true
					}
					if size == 1 {
						res.Latencies = append(res.Latencies, lat)
					}
				} else {
					res.Errors[status]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	for c := range o.Clients {
		for f := range o.FamiliesPerClient {
			res.Families = append(res.Families, fmt.Sprintf("L%02d-%d", c, f))
		}
	}
	slices.Sort(res.Latencies)
	return res, nil
}

func post(c *http.Client, u, token, ctype string, body []byte) int {
	req, err := http.NewRequest("POST", u, bytes.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", ctype)
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// readModelWait bounds how long ReadModelIDs keeps asking while the read
// model has not reached the position.
const readModelWait = 30 * time.Second

// ReadModelIDs lists the event ids in the read model's timelines of the
// families, as an auditor sees them, waiting first (X-Min-Position) until
// the read model has applied position.
func ReadModelIDs(c *http.Client, base string, families []string, position uint64) (map[string]int, error) {
	ids := map[string]int{}
	sort.Strings(families)
	for _, fam := range families {
		cursor := ""
		for {
			u := base + "/v1/families/" + fam + "/timeline?order=asc&limit=500"
			if cursor != "" {
				u = base + "/v1/families/" + fam + "/timeline?cursor=" + url.QueryEscape(cursor)
			}
			var page struct {
				Entries []struct {
					ID string `json:"id"`
				} `json:"entries"`
				NextCursor *string `json:"nextCursor"`
			}
			// A 503 says the read model has not applied position within
			// the API's wait; like any client, ask again, for a while.
			var status int
			var body []byte
			for deadline := time.Now().Add(readModelWait); ; {
				req, _ := http.NewRequest("GET", u, nil)
				req.Header.Set("Authorization", "Bearer dev-auditor")
				req.Header.Set("X-Min-Position", fmt.Sprint(position))
				req.Header.Set("X-Purpose", "load test count")
				resp, err := c.Do(req)
				if err != nil {
					return nil, err
				}
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					return nil, err
				}
				status = resp.StatusCode
				if status != http.StatusServiceUnavailable || time.Now().After(deadline) {
					break
				}
			}
			switch {
			case status == 404:
				// A family that never got an event.
				page.NextCursor = nil
			case status != 200:
				return nil, fmt.Errorf("timeline of %s: status %d: %s", fam, status, body)
			default:
				if err := json.Unmarshal(body, &page); err != nil {
					return nil, err
				}
			}
			for _, e := range page.Entries {
				ids[e.ID]++
			}
			if page.NextCursor == nil {
				break
			}
			cursor = *page.NextCursor
		}
	}
	return ids, nil
}

// Verify asks the audit API to replay the whole stream into a fresh
// projection and compare it with the live read model; it returns the
// answer ({"events","live","replay","match",...}).
func Verify(c *http.Client, base string) (map[string]any, error) {
	req, err := http.NewRequest("POST", base+"/v1/audit/verify", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer dev-auditor")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return out, fmt.Errorf("verify: status %d: %v", resp.StatusCode, out)
	}
	return out, nil
}
