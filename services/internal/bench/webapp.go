package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/standalone"
)

// WebAppOptions size the web app measurement.
type WebAppOptions struct {
	// Events is the family's history; Views family pages are timed.
	Events, Views int
	Dir           string
	Out           io.Writer
}

// WebAppDefaults are the sizes of the web app's targets.
func WebAppDefaults() WebAppOptions {
	return WebAppOptions{Events: 10_000, Views: 300, Out: os.Stdout}
}

// WebApp measures the family page of the web app for a family with
// o.Events events, on a standalone in this process: the time from request
// to the last byte of the page over loopback (p50, p99; target p99 <=
// 50 ms), and the bytes of the first page with its CSS and script
// (target <= 150 KB).
func WebApp(ctx context.Context, o WebAppOptions) error {
	out := o.Out
	if out == nil {
		out = os.Stdout
	}
	p := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	p("# web app bench: %s, %d cores, %s", time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), runtime.Version())
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "jfbench-webapp-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	cfg := config.Defaults()
	cfg.HTTPAddr, cfg.DataDir, cfg.NATSListen = "127.0.0.1:0", dir, "off"
	sa, err := standalone.Start(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	defer func() { _ = sa.Stop() }()
	base := sa.URL()
	const fam = "BIG"
	if err := waitReady(ctx, base); err != nil {
		return err
	}
	start := time.Now()
	last, err := loadFamily(base, fam, o.Events)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := sa.Projector.WaitFor(wctx, last); err != nil {
		return err
	}
	p("family %s: %d events loaded through ingest and projected in %s", fam, o.Events, time.Since(start).Round(time.Millisecond))

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	get := func(path string) ([]byte, error) {
		resp, err := c.Get(base + path)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != 200 {
			err = fmt.Errorf("GET %s: %d", path, resp.StatusCode)
		}
		return b, err
	}
	form, err := get("/app/login")
	if err != nil {
		return err
	}
	if _, err := postForm(c, base+"/app/login", url.Values{"csrf": {csrfOf(form)}, "token": {"dev-coordinator"}}); err != nil {
		return err
	}
	purposeForm, err := get("/app/families/" + fam)
	if err != nil {
		return err
	}
	if _, err := postForm(c, base+"/app/families/"+fam+"/purpose", url.Values{"csrf": {csrfOf(purposeForm)}, "choice": {"Opfølgning på Familiens Plan"}}); err != nil {
		return err
	}
	page, err := get("/app/families/" + fam)
	if err != nil {
		return err
	}
	css, err := get("/app/static/app.css")
	if err != nil {
		return err
	}
	js, err := get("/app/static/app.js")
	if err != nil {
		return err
	}
	lat := make([]time.Duration, o.Views)
	for i := range lat {
		t0 := time.Now()
		if _, err := get("/app/families/" + fam); err != nil {
			return err
		}
		lat[i] = time.Since(t0)
	}
	slices.Sort(lat)
	p("family page (%d events, %d views, one logged read each): p50 %s, p99 %s (target p99 <= 50ms), max %s",
		o.Events, o.Views, pct(lat, 50), pct(lat, 99), lat[len(lat)-1].Round(time.Microsecond))
	total := len(page) + len(css) + len(js)
	p("first page: HTML %d B + CSS %d B + script %d B = %d KB (target <= 150 KB)", len(page), len(css), len(js), (total+1023)/1024)
	return nil
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(page []byte) string {
	if m := csrfRE.FindSubmatch(page); m != nil {
		return string(m[1])
	}
	return ""
}

func postForm(c *http.Client, u string, v url.Values) (*http.Response, error) {
	resp, err := c.PostForm(u, v)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return resp, fmt.Errorf("POST %s: %d", u, resp.StatusCode)
	}
	return resp, nil
}

// loadFamily posts a family with n events through the ingest API in
// batches: enrolment, caseworker E1001, goals, then meetings and goal
// follow-ups over two years, and school absence each quarter. It returns
// the last position.
func loadFamily(base, fam string, n int) (uint64, error) {
	t0 := time.Date(2023, 1, 2, 9, 0, 0, 0, time.UTC)
	type ev struct {
		dept events.Department
		data events.Payload
	}
	evs := []ev{
		{events.SOF, &events.FamilyEnrolled{Members: []events.Member{{PersonID: "P1", Role: "parent"}, {PersonID: "C1", Role: "child"}},
			CourseStart: "2023-01-02", ChildCaseIDs: []string{"CASE1"}, ParentBenefits: []events.ParentBenefit{{PersonID: "P1", Benefit: "kontanthjaelp"}}}},
		{events.SOF, &events.CaseworkerAssigned{EmployeeID: "E1001"}},
	}
	domains := []string{"employment", "school", "family", "health", "economy"}
	for g := range 10 {
		evs = append(evs, ev{events.SOF, &events.GoalSet{GoalID: "G" + strconv.Itoa(g), Title: "Mål nummer " + strconv.Itoa(g),
			Domain: domains[g%len(domains)], ExpressedBy: "family"}})
	}
	achievements := []string{"in-progress", "improving", "no-change", "worsening"}
	for i := 0; len(evs) < n; i++ {
		switch {
		case i%50 == 49:
			q := time.Date(2023, time.Month(1+(i/50%8)*3%12), 1, 0, 0, 0, 0, time.UTC)
			evs = append(evs, ev{events.BUF, &events.SchoolAbsenceNoted{ChildID: "C1", PeriodStart: q.Format(time.DateOnly),
				PeriodEnd: q.AddDate(0, 3, -1).Format(time.DateOnly), SchoolDays: 60,
				AbsentDays: events.AbsentDays{Sickness: i % 5, Authorised: 1, Unauthorised: i % 7}}})
		case i%5 == 0:
			evs = append(evs, ev{events.SOF, &events.GoalProgressed{GoalID: "G" + strconv.Itoa(i%10), Achievement: achievements[i%4]}})
		default:
			evs = append(evs, ev{events.SOF, &events.MeetingHeld{Kind: "network"}})
		}
	}
	step := 2 * 365 * 24 * time.Hour / time.Duration(len(evs))
	byDept := map[events.Department][][]byte{}
	for i, e := range evs {
		ce, err := events.Build(e.dept, fam, e.data, events.WithTime(t0.Add(time.Duration(i)*step)),
			events.WithID(fmt.Sprintf("%s-%s-%06d", fam, e.dept, i)))
		if err != nil {
			return 0, err
		}
		b, err := events.Marshal(ce)
		if err != nil {
			return 0, err
		}
		byDept[e.dept] = append(byDept[e.dept], b)
	}
	var last uint64
	// SOF first: its enrolment is what the others' invariants need.
	for _, d := range []events.Department{events.SOF, events.BUF} {
		all := byDept[d]
		for len(all) > 0 {
			k := min(len(all), 500)
			body := append(append([]byte("["), bytes.Join(all[:k], []byte(","))...), ']')
			all = all[k:]
			req, _ := http.NewRequest("POST", base+"/departments/"+string(d)+"/v1/events", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer dev-"+string(d))
			req.Header.Set("Content-Type", "application/cloudevents-batch+json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return 0, err
			}
			rb, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 201 {
				return 0, fmt.Errorf("ingest batch: %d %s", resp.StatusCode, rb)
			}
			var pos struct {
				Position uint64 `json:"position"`
			}
			if err := json.Unmarshal(rb, &pos); err != nil {
				return 0, err
			}
			last = max(last, pos.Position)
		}
	}
	return last, nil
}

// waitReady polls /readyz until the standalone is ready.
func waitReady(ctx context.Context, base string) error {
	for range 300 {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("standalone at %s not ready", base)
}
