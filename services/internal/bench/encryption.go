package bench

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/benchdata"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/shred"
)

// EncryptionOptions size a run of Encryption.
type EncryptionOptions struct {
	// Rounds of each measurement per mode; the modes alternate.
	Rounds int
	// Ingest, a round: BatchRequests of BatchSize events each sent by
	// BatchClients, then Singles single events by SingleClients.
	BatchRequests, BatchSize, BatchClients int
	Singles, SingleClients                 int
	// Timeline: a stream of Events over Families families, BigFamily of
	// them for BIG, whose timeline is queried Queries times a round;
	// Live more events are published a round once the projector is
	// ready, and timed until applied.
	Events, Families, BigFamily int
	Queries, Live               int
	// Parts are the measurements to run: "ingest", "timeline" or both.
	Parts []string
	// Projector is the projector binary; Jfbench the binary run as the
	// ingest process (default: this executable).
	Projector, Jfbench string
	Dir                string
	// ProfileDir, when set, receives CPU profiles of the ingest processes
	// in each round (ingest-<on|off>-<round>.pprof, with the bench
	// process's beside them as -bench.pprof) and of each projector
	// process, its whole run (projector-<on|off>-<round>.pprof).
	ProfileDir string
	Out        io.Writer
}

// EncryptionDefaults finish in a few minutes on 2 cores.
func EncryptionDefaults() EncryptionOptions {
	return EncryptionOptions{Rounds: 3, BatchRequests: 300, BatchSize: 100, BatchClients: 16, Singles: 6000, SingleClients: 32,
		Events: 200_000, Families: 2000, BigFamily: 10_000, Queries: 3000, Live: 20_000,
		Parts: []string{"ingest", "timeline"}, Projector: "bin/projector", Out: os.Stdout}
}

// encryptionTarget is the bound on what encryption may cost:
// at most 15 % of throughput, or 15 % more latency.
const encryptionTarget = 0.15

// Encryption measures what encrypting personal fields costs (package
// shred, -encryption / JF_ENCRYPTION), with encryption on against off in
// one run, the two alternating round by round so that the machine's load
// affects both alike (docs/PERFORMANCE.md, "Encryption"):
//
//   - ingest: two stores, each with its ingest process (jfbench
//     -ingest-child), one encrypting and one not, sent the same request
//     bodies: batches and single events of a mix of which three in four
//     carry personal text (family.referred, goal.set, education.started,
//     employment.started in turn), their throughput and p99;
//   - timeline: two stores of the same events, half of them with personal
//     text, one stored as ingest encrypts them and one in plaintext; a
//     projector process (encryption on, resp. off) catches up from an
//     empty read model, the coordinator's timeline of BIG is queried, and
//     a burst of events published after ready is timed until applied.
//
// Each round checks that the encrypting side stored ciphertext and the
// other plaintext, and that the projector shows the plaintext.
func Encryption(ctx context.Context, o EncryptionOptions) error {
	out := o.Out
	if out == nil {
		out = os.Stdout
	}
	p := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	p("# jfbench encryption: %s, %d cores, %s, load average %s", time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), runtime.Version(), loadAverage())
	master, err := shred.NewMasterKeyText()
	if err != nil {
		return err
	}
	if o.ProfileDir != "" {
		if err := os.MkdirAll(o.ProfileDir, 0o755); err != nil {
			return err
		}
	}
	if o.Rounds < 1 {
		return errors.New("encryption: -rounds must be at least 1")
	}
	for _, part := range o.Parts {
		switch part {
		case "ingest":
			err = encryptionIngest(ctx, o, master, p)
		case "timeline":
			err = encryptionTimeline(ctx, o, master, p)
		default:
			err = fmt.Errorf("encryption: unknown part %q (ingest, timeline)", part)
		}
		if err != nil {
			return err
		}
	}
	p("encryption: load average at the end %s", loadAverage())
	return nil
}

// loadAverage is the first three fields of /proc/loadavg.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// encMode is one side of the comparison.
type encMode struct {
	on   bool
	name string
}

var encModes = [2]encMode{{true, "on"}, {false, "off"}}

// order is the modes in round r: on first in even rounds, off first in
// odd ones.
func order(r int) [2]int {
	if r%2 == 0 {
		return [2]int{0, 1}
	}
	return [2]int{1, 0}
}

func storeDir(root, name string) string {
	if root == "" {
		return ""
	}
	return filepath.Join(root, name)
}

// encryptionEnv is the environment of a process of mode m.
func encryptionEnv(master string, m encMode) []string {
	return []string{"JF_MASTER_KEY=" + master, "JF_ENCRYPTION=" + strconv.FormatBool(m.on)}
}

// ingestTally is one mode's ingest figures over every round.
type ingestTally struct {
	batchEvents, singleEvents int
	batchTime, singleTime     time.Duration
	// batchCPU and singleCPU are the CPU time the ingest process spent
	// on each phase (user and system, /proc/<pid>/stat).
	batchCPU, singleCPU time.Duration
	batchLat, singleLat []time.Duration
}

// ingestMix is the text of the mix the ingest part sends.
const ingestMix = "family.referred (reason, note), goal.set v2 (title, description), education.started (programme), employment.started (none) in turn"

func encryptionIngest(ctx context.Context, o EncryptionOptions, master string, p func(string, ...any)) error {
	exe := o.Jfbench
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return err
		}
	}
	dur, err := eventstore.ParseDurability("interval")
	if err != nil {
		return err
	}
	var stores [2]*benchdata.Store
	var procs [2]*ingestProcess
	for k, m := range encModes {
		st, err := benchdata.OpenStore(ctx, storeDir(o.Dir, "ingest-"+m.name), "bench-encryption-"+m.name, dur)
		if err != nil {
			return err
		}
		defer st.Close()
		stores[k] = st
		env := append(encryptionEnv(master, m), "JF_DATA_DIR="+filepath.Join(st.Dir, "ingest"))
		proc, err := startChildOf(ctx, exe, IngestChildFlag, st.URL, st.NKey, env...)
		if err != nil {
			return err
		}
		defer proc.Stop()
		procs[k] = proc
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128, MaxConnsPerHost: 128}}

	// goal.set needs an enrolled family: enrol every family the clients
	// write to, through ingest, before the clock starts.
	clients := max(o.BatchClients, o.SingleClients)
	var enrol [][]byte
	for c := range clients {
		for j := range encFamiliesPerClient {
			enrol = append(enrol, enrolment(encFamily(c, j)))
		}
	}
	for k := range procs {
		for lo := 0; lo < len(enrol); lo += 100 {
			body := jsonArray(enrol[lo:min(lo+100, len(enrol))])
			if _, err := encPost(client, procs[k].URL, "sof", "application/cloudevents-batch+json", body); err != nil {
				return fmt.Errorf("encryption: enrolling the bench's families (encryption %s): %w", encModes[k].name, err)
			}
		}
	}
	p("encryption, ingest: %d families enrolled on each side; the mix sent: %s", len(enrol), ingestMix)

	var tally [2]ingestTally
	n := 0
	next := func(c int) []byte {
		n++
		return encEvent(n, encFamily(c, n%encFamiliesPerClient))
	}
	for r := range o.Rounds {
		// The same bodies go to both sides, made before the clock starts.
		batches := make([][]byte, o.BatchRequests)
		for i := range batches {
			parts := make([][]byte, o.BatchSize)
			for k := range parts {
				parts[k] = next(i % max(o.BatchClients, 1))
			}
			batches[i] = jsonArray(parts)
		}
		singles := make([][]byte, o.Singles)
		for i := range singles {
			singles[i] = next(i % max(o.SingleClients, 1))
		}
		var rate [2][2]float64
		for _, k := range order(r) {
			t := &tally[k]
			url := procs[k].URL
			var sent, errs atomic.Int64
			lat := make([]time.Duration, len(batches))
			var profile string
			if o.ProfileDir != "" {
				profile, _ = filepath.Abs(filepath.Join(o.ProfileDir, fmt.Sprintf("ingest-%s-%d.pprof", encModes[k].name, r+1)))
			}
			var bt, st time.Duration
			var ok atomic.Int64
			var singleLat []time.Duration
			pid := procs[k].cmd.Process.Pid
			if err := procs[k].Profile(profile, func() {
				cpu0 := cpuOf(pid)
				start := time.Now()
				runClients(o.BatchClients, len(batches), func(c, i int) {
					t0 := time.Now()
					if _, err := encPost(client, url, "bif", "application/cloudevents-batch+json", batches[i]); err != nil {
						if errs.Add(1) == 1 {
							fmt.Fprintln(os.Stderr, "encryption bench: first error:", err)
						}
					} else {
						sent.Add(int64(o.BatchSize))
					}
					lat[i] = time.Since(t0)
				})
				bt = time.Since(start)
				cpu1 := cpuOf(pid)
				t.batchCPU += cpu1 - cpu0
				singleLat = make([]time.Duration, len(singles))
				start = time.Now()
				runClients(o.SingleClients, len(singles), func(c, i int) {
					t0 := time.Now()
					if _, err := encPost(client, url, "bif", "application/cloudevents+json", singles[i]); err != nil {
						if errs.Add(1) == 1 {
							fmt.Fprintln(os.Stderr, "encryption bench: first error:", err)
						}
					} else {
						ok.Add(1)
					}
					singleLat[i] = time.Since(t0)
				})
				st = time.Since(start)
				t.singleCPU += cpuOf(pid) - cpu1
			}); err != nil {
				return err
			}
			if n := errs.Load(); n > 0 {
				return fmt.Errorf("encryption, ingest round %d, encryption %s: %d of %d requests failed (the first is above); a run with failed requests reports no figures",
					r+1, encModes[k].name, n, len(batches)+len(singles))
			}
			t.batchEvents += int(sent.Load())
			t.batchTime += bt
			t.batchLat = append(t.batchLat, lat...)
			rate[k][0] = float64(sent.Load()) / bt.Seconds()
			batchLat := slices.Sorted(slices.Values(lat))

			lat = singleLat
			t.singleEvents += int(ok.Load())
			t.singleTime += st
			t.singleLat = append(t.singleLat, lat...)
			rate[k][1] = float64(ok.Load()) / st.Seconds()
			slices.Sort(lat)
			p("encryption, ingest round %d, encryption %-3s: batches (%d a request, %d clients) %.0f events/s, p99 %s; single events (%d clients) %.0f events/s, p50 %s, p99 %s",
				r+1, encModes[k].name, o.BatchSize, o.BatchClients, rate[k][0], pct(batchLat, 99), o.SingleClients, rate[k][1], pct(lat, 50), pct(lat, 99))
		}
		p("encryption, ingest round %d: on / off: batches %.2f, single events %.2f", r+1, rate[0][0]/rate[1][0], rate[0][1]/rate[1][1])
		for k, m := range encModes {
			if err := checkStored(ctx, stores[k].JS, m.on); err != nil {
				return fmt.Errorf("encryption, ingest round %d: %w", r+1, err)
			}
		}
	}
	on, off := tally[0], tally[1]
	batchOn, batchOff := float64(on.batchEvents)/on.batchTime.Seconds(), float64(off.batchEvents)/off.batchTime.Seconds()
	singleOn, singleOff := float64(on.singleEvents)/on.singleTime.Seconds(), float64(off.singleEvents)/off.singleTime.Seconds()
	slices.Sort(on.batchLat)
	slices.Sort(off.batchLat)
	slices.Sort(on.singleLat)
	slices.Sort(off.singleLat)
	p("encryption, ingest over %d rounds, on against off (stored messages checked: ciphertext with %s on, plaintext off):", o.Rounds, shred.Extension)
	p("  batches: on %.0f events/s, off %.0f events/s: on / off = %.2f (target >= %.2f)%s; p99 on %s, off %s: on / off = %.2f (target <= %.2f)%s",
		batchOn, batchOff, batchOn/batchOff, 1-encryptionTarget, verdict(batchOn/batchOff >= 1-encryptionTarget),
		pct(on.batchLat, 99), pct(off.batchLat, 99), ratio(pct(on.batchLat, 99), pct(off.batchLat, 99)), 1+encryptionTarget,
		verdict(ratio(pct(on.batchLat, 99), pct(off.batchLat, 99)) <= 1+encryptionTarget))
	p("  single events: on %.0f events/s, off %.0f events/s: on / off = %.2f (target >= %.2f)%s; p50 on %s, off %s; p99 on %s, off %s: on / off = %.2f (target <= %.2f)%s",
		singleOn, singleOff, singleOn/singleOff, 1-encryptionTarget, verdict(singleOn/singleOff >= 1-encryptionTarget),
		pct(on.singleLat, 50), pct(off.singleLat, 50), pct(on.singleLat, 99), pct(off.singleLat, 99),
		ratio(pct(on.singleLat, 99), pct(off.singleLat, 99)), 1+encryptionTarget,
		verdict(ratio(pct(on.singleLat, 99), pct(off.singleLat, 99)) <= 1+encryptionTarget))
	// The rates move with whatever else the two cores run; the ingest
	// process's own CPU time for the same events does much less.
	bOn, bOff := cpuPerThousand(on.batchCPU, on.batchEvents), cpuPerThousand(off.batchCPU, off.batchEvents)
	sOn, sOff := cpuPerThousand(on.singleCPU, on.singleEvents), cpuPerThousand(off.singleCPU, off.singleEvents)
	p("  ingest CPU per 1,000 events: batches on %.0f ms, off %.0f ms: on / off = %.2f (target <= %.2f)%s; single events on %.0f ms, off %.0f ms: on / off = %.2f (target <= %.2f)%s",
		bOn, bOff, bOn/bOff, 1+encryptionTarget, verdict(bOn/bOff <= 1+encryptionTarget),
		sOn, sOff, sOn/sOff, 1+encryptionTarget, verdict(sOn/sOff <= 1+encryptionTarget))
	return nil
}

func verdict(met bool) string {
	if met {
		return ""
	}
	return " — not met"
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// encFamiliesPerClient are the families each client writes to, so that
// concurrent clients seldom contend for one family.
const encFamiliesPerClient = 16

func encFamily(client, j int) string { return fmt.Sprintf("E%03d-%02d", client, j) }

func enrolment(fam string) []byte {
	data := &events.FamilyEnrolled{
		Members:     []events.Member{{PersonID: "P1", Role: "parent"}, {PersonID: "C1", Role: "child"}},
		CourseStart: "2026-01-15", ChildCaseIDs: []string{"CASE1"},
		ParentBenefits: []events.ParentBenefit{{PersonID: "P1", Benefit: "kontanthjaelp"}},
	}
	return mustEvent(events.SOF, fam, data, "enrol-"+fam)
}

// encEvent is event n of the ingest part's mix, for family fam.
func encEvent(n int, fam string) []byte {
	mark := benchdata.PersonalMarker + " " + strconv.Itoa(n)
	var data events.Payload
	switch n % 4 {
	case 0:
		data = &events.FamilyReferred{
			Reason: "Langvarig ledighed hos begge forældre og bekymring for barnets trivsel i skolen (" + mark + ")",
			Note:   "Henvist via SSP-møde, familien ønsker hjælp (" + mark + ")"}
	case 1:
		data = &events.GoalSetV2{GoalID: "G" + strconv.Itoa(n), Title: "Mor er i praktik mindst 15 timer om ugen (" + mark + ")",
			Domains:     []string{"employment", "family"},
			Description: "Praktikken skal passe med at hente børnene kl. 15, så hverdagen hænger sammen (" + mark + ")",
			PersonID:    "P1", ExpressedBy: "family"}
	case 2:
		data = &events.EducationStarted{PersonID: "P1", Programme: "HF-enkeltfag dansk og matematik (" + mark + ")"}
	default:
		data = &events.EmploymentStarted{PersonID: "P1", Kind: "small-job", HoursPerWeek: 12}
	}
	return mustEvent(events.BIF, fam, data, fmt.Sprintf("enc-%09d", n))
}

func mustEvent(dept events.Department, fam string, data events.Payload, id string) []byte {
	ce, err := events.Build(dept, fam, data, events.WithID(id))
	if err != nil {
		panic(err)
	}
	b, err := events.Marshal(ce)
	if err != nil {
		panic(err)
	}
	return b
}

func jsonArray(parts [][]byte) []byte {
	return append(append([]byte("["), bytes.Join(parts, []byte(","))...), ']')
}

// encPost posts body to a department's ingest API as that department;
// anything but 201 is an error.
func encPost(c *http.Client, url, dept, ctype string, body []byte) (int, error) {
	req, err := http.NewRequest("POST", url+"/departments/"+dept+"/v1/events", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer dev-"+dept)
	req.Header.Set("Content-Type", ctype)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return resp.StatusCode, fmt.Errorf("%s: %s", resp.Status, b)
	}
	return resp.StatusCode, nil
}

// checkStored reads the last stored message of each personal type of the
// mixes and fails unless it is encrypted (named key,
// ciphertext, no plaintext) when on, and plaintext when off: a figure
// of the wrong mode is worse than none.
func checkStored(ctx context.Context, js jetstream.JetStream, on bool) error {
	s, err := js.Stream(ctx, eventstore.FamilyStream)
	if err != nil {
		return err
	}
	for _, name := range []string{"family.referred", "goal.set", "education.started"} {
		subj := "families.*.*." + name
		m, err := s.GetLastMsgForSubject(ctx, subj)
		if err != nil {
			return fmt.Errorf("the stored %s: %w", subj, err)
		}
		keyed := bytes.Contains(m.Data, []byte(`"`+shred.Extension+`"`)) && bytes.Contains(m.Data, []byte(shred.Prefix))
		plain := bytes.Contains(m.Data, []byte(benchdata.PersonalMarker))
		switch {
		case on && (!keyed || plain):
			return fmt.Errorf("encryption is on, but the stored %s (sequence %d) is not encrypted: %s", name, m.Sequence, m.Data)
		case !on && (keyed || !plain):
			return fmt.Errorf("encryption is off, but the stored %s (sequence %d) is not plaintext: %s", name, m.Sequence, m.Data)
		}
	}
	return nil
}

// timelineTally is one mode's timeline figures over every round.
type timelineTally struct {
	caughtUp, liveEvents int
	catchUp, live        time.Duration
	catchUpCPU           time.Duration
	lat                  []time.Duration
}

// timelineStream says what the timeline part's stream holds.
const timelineStream = "after each family's enrolment, caseworker and consents, a quarter family.referred (reason, note), an eighth each goal.set v2 (title, description) and education.started (programme), a quarter health.assessed and a quarter meeting.held"

func encryptionTimeline(ctx context.Context, o EncryptionOptions, master string, p func(string, ...any)) error {
	mk, err := shred.ParseMasterKey(master)
	if err != nil {
		return err
	}
	var stores [2]*benchdata.Store
	var gens [2]*benchdata.Events
	base := time.Now().UTC().Add(-365 * 24 * time.Hour)
	for k, m := range encModes {
		st, err := benchdata.OpenStore(ctx, storeDir(o.Dir, "timeline-"+m.name), "bench-encryption-timeline-"+m.name, eventstore.Durability{})
		if err != nil {
			return err
		}
		defer st.Close()
		stores[k] = st
		g := &benchdata.Events{N: o.Events, Families: o.Families, Big: o.BigFamily, Base: base, Spacing: time.Second, Personal: true}
		if m.on {
			// Stored as ingest stores it: personal fields encrypted with
			// the family's key, made in this store's JF_KEYS.
			keys := shred.New(st.JS, mk)
			g.Seal = func(subject string, data []byte) ([]byte, error) {
				env, err := events.DecodeStored(subject, data, time.Now())
				if err != nil {
					return nil, err
				}
				return keys.Seal(ctx, env, data)
			}
		}
		gens[k] = g
		start := time.Now()
		if _, err := g.Publish(ctx, st.JS, nil); err != nil {
			return fmt.Errorf("encryption, timeline: preloading the %s stream: %w", m.name, err)
		}
		p("encryption, timeline: stream for encryption %s: %d events over %d families (BIG: %d) in %s", m.name, o.Events, o.Families, o.BigFamily, time.Since(start).Round(time.Millisecond))
	}
	p("encryption, timeline: the stream holds %s", timelineStream)
	for k, m := range encModes {
		if err := checkStored(ctx, stores[k].JS, m.on); err != nil {
			return fmt.Errorf("encryption, timeline: %w", err)
		}
	}

	var tally [2]timelineTally
	live := 0
	for r := range o.Rounds {
		// The same burst for both sides, made (and sealed) before the clock.
		var burst [2][]*nats.Msg
		for k := range gens {
			for i := range o.Live {
				burst[k] = append(burst[k], gens[k].Msg(o.Events+live+i))
			}
		}
		live += o.Live
		var rate [2]float64
		var p50, p99 [2]time.Duration
		for _, k := range order(r) {
			res, err := timelineRound(ctx, o, stores[k], master, encModes[k], r, burst[k])
			if err != nil {
				return fmt.Errorf("encryption, timeline round %d, encryption %s: %w", r+1, encModes[k].name, err)
			}
			t := &tally[k]
			t.caughtUp += res.events
			t.catchUp += res.catchUp
			t.catchUpCPU += res.catchUpCPU
			t.liveEvents += len(burst[k])
			t.live += res.live
			t.lat = append(t.lat, res.lat...)
			slices.Sort(res.lat)
			rate[k] = float64(res.events) / res.catchUp.Seconds()
			p50[k], p99[k] = pct(res.lat, 50), pct(res.lat, 99)
			p("encryption, timeline round %d, encryption %-3s: catch-up of %d events %s = %.0f events/s; timeline (latest 100 of BIG, %d GETs) p50 %s, p99 %s; live apply of %d events %.0f events/s",
				r+1, encModes[k].name, res.events, res.catchUp.Round(time.Millisecond), rate[k], len(res.lat), p50[k], p99[k],
				len(burst[k]), float64(len(burst[k]))/res.live.Seconds())
		}
		p("encryption, timeline round %d: on / off: catch-up %.2f, timeline p50 %.2f, p99 %.2f", r+1, rate[0]/rate[1], ratio(p50[0], p50[1]), ratio(p99[0], p99[1]))
	}
	on, off := tally[0], tally[1]
	cuOn, cuOff := float64(on.caughtUp)/on.catchUp.Seconds(), float64(off.caughtUp)/off.catchUp.Seconds()
	liveOn, liveOff := float64(on.liveEvents)/on.live.Seconds(), float64(off.liveEvents)/off.live.Seconds()
	slices.Sort(on.lat)
	slices.Sort(off.lat)
	p50, p99 := ratio(pct(on.lat, 50), pct(off.lat, 50)), ratio(pct(on.lat, 99), pct(off.lat, 99))
	p("encryption, timeline over %d rounds, an encrypted stream against a plaintext one of the same events (the projector checked to show the plaintext):", o.Rounds)
	p("  catch-up (empty read model to applied and ready): on %.0f events/s, off %.0f events/s: on / off = %.2f (target >= %.2f)%s",
		cuOn, cuOff, cuOn/cuOff, 1-encryptionTarget, verdict(cuOn/cuOff >= 1-encryptionTarget))
	cpuOn, cpuOff := cpuPerThousand(on.catchUpCPU, on.caughtUp), cpuPerThousand(off.catchUpCPU, off.caughtUp)
	p("  catch-up, the projector's CPU per 1,000 events: on %.0f ms, off %.0f ms: on / off = %.2f (target <= %.2f)%s",
		cpuOn, cpuOff, cpuOn/cpuOff, 1+encryptionTarget, verdict(cpuOn/cpuOff <= 1+encryptionTarget))
	p("  live apply (a burst published after ready, until applied): on %.0f events/s, off %.0f events/s: on / off = %.2f (target >= %.2f)%s",
		liveOn, liveOff, liveOn/liveOff, 1-encryptionTarget, verdict(liveOn/liveOff >= 1-encryptionTarget))
	p("  timeline query: p50 on %s, off %s: on / off = %.2f; p99 on %s, off %s: on / off = %.2f (target <= %.2f)%s",
		pct(on.lat, 50), pct(off.lat, 50), p50, pct(on.lat, 99), pct(off.lat, 99), p99,
		1+encryptionTarget, verdict(p99 <= 1+encryptionTarget))
	return nil
}

type timelineResult struct {
	events  int
	catchUp time.Duration
	// catchUpCPU is the CPU time the projector process used from its
	// start until it had caught up and was ready.
	catchUpCPU time.Duration
	lat        []time.Duration
	live       time.Duration
}

// timelineRound runs a projector of mode m on st with an empty read model
// until it has caught up, queries BIG's timeline, then publishes burst and
// waits until it is applied.
func timelineRound(ctx context.Context, o EncryptionOptions, st *benchdata.Store, master string, m encMode, r int, burst []*nats.Msg) (timelineResult, error) {
	var res timelineResult
	s, err := st.JS.Stream(ctx, eventstore.FamilyStream)
	if err != nil {
		return res, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return res, err
	}
	total := info.State.LastSeq
	res.events = int(info.State.Msgs)
	addr, err := freeAddr()
	if err != nil {
		return res, err
	}
	data := filepath.Join(st.Dir, fmt.Sprintf("projector-%d", r+1))
	defer os.RemoveAll(data)
	logf, err := os.Create(filepath.Join(st.Dir, fmt.Sprintf("projector-%d.log", r+1)))
	if err != nil {
		return res, err
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, o.Projector, "-http", addr, "-nats-url", st.URL, "-nats-nkey", st.NKey, "-data", data, "-log-level", "warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), encryptionEnv(master, m)...)
	if o.ProfileDir != "" {
		f, err := filepath.Abs(filepath.Join(o.ProfileDir, fmt.Sprintf("projector-%s-%d.pprof", m.name, r+1)))
		if err != nil {
			return res, err
		}
		cmd.Env = append(cmd.Env, "JF_CPUPROFILE="+f)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return res, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-exited
	}()
	url := "http://" + addr
	waitFor := func(seq uint64) error {
		for {
			if pos, _ := position(url); pos >= seq && ready(url) == nil {
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			select {
			case err := <-exited:
				exited <- err
				return fmt.Errorf("the projector exited (%v); see %s", err, logf.Name())
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	if err := waitFor(total); err != nil {
		return res, err
	}
	res.catchUp = time.Since(start)
	res.catchUpCPU = cpuOf(cmd.Process.Pid)
	if err := checkShown(url, m); err != nil {
		return res, err
	}
	if res.lat, err = timelineLatency(ctx, url, o.Queries); err != nil {
		return res, err
	}
	// Published asynchronously, a window of 4000 at a time (the store's
	// client allows 4096 unacknowledged).
	var futures []jetstream.PubAckFuture
	start = time.Now()
	for i, msg := range burst {
		f, err := st.JS.PublishMsgAsync(msg)
		if err != nil {
			return res, err
		}
		futures = append(futures, f)
		if len(futures) < 4000 && i < len(burst)-1 {
			continue
		}
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return res, err
			case <-ctx.Done():
				return res, ctx.Err()
			}
		}
		futures = futures[:0]
	}
	if err := waitFor(total + uint64(len(burst))); err != nil {
		return res, err
	}
	res.live = time.Since(start)
	return res, nil
}

// checkShown fails unless the coordinator's timeline of BIG shows the
// personal text in the clear, in either mode: the projector decrypted
// what was encrypted, and quarantined nothing of the latest entries.
func checkShown(url string, m encMode) error {
	req, err := http.NewRequest("GET", url+"/v1/families/BIG/timeline?limit=100", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer dev-coordinator")
	resp, err := benchClient.Do(req)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch {
	case resp.StatusCode != 200:
		return fmt.Errorf("timeline of BIG: %s: %s", resp.Status, b)
	case !bytes.Contains(b, []byte(benchdata.PersonalMarker)) || bytes.Contains(b, []byte(shred.Prefix)):
		return fmt.Errorf("the projector (encryption %s) does not show BIG's personal text in the clear: %.500s", m.name, b)
	}
	return nil
}

// EncryptionCommand is `jfbench encryption [-projector bin/projector] [-rounds N] …`.
func EncryptionCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o := EncryptionDefaults()
	o.Out = stdout
	fs := flag.NewFlagSet("jfbench encryption", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.Rounds, "rounds", o.Rounds, "rounds of each measurement per mode, on and off alternately")
	fs.IntVar(&o.BatchRequests, "batch-requests", o.BatchRequests, "ingest: batch requests a round and mode")
	fs.IntVar(&o.BatchSize, "batch-size", o.BatchSize, "ingest: events per batch request")
	fs.IntVar(&o.BatchClients, "batch-clients", o.BatchClients, "ingest: concurrent batch clients")
	fs.IntVar(&o.Singles, "single", o.Singles, "ingest: single-event requests a round and mode")
	fs.IntVar(&o.SingleClients, "single-clients", o.SingleClients, "ingest: concurrent single-event clients")
	fs.IntVar(&o.Events, "events", o.Events, "timeline: events in each stream")
	fs.IntVar(&o.Families, "families", o.Families, "timeline: families they belong to")
	fs.IntVar(&o.BigFamily, "big", o.BigFamily, "timeline: events of the family BIG, whose timeline is queried")
	fs.IntVar(&o.Queries, "queries", o.Queries, "timeline: timeline queries a round and mode")
	fs.IntVar(&o.Live, "live", o.Live, "timeline: events published a round once the projector is ready, timed until applied")
	parts := fs.String("parts", strings.Join(o.Parts, ","), "comma-separated measurements: ingest, timeline")
	fs.StringVar(&o.Projector, "projector", o.Projector, "projector binary to run")
	fs.StringVar(&o.Dir, "dir", "", "directory for the stores and the projectors' logs (default: temporary ones, removed)")
	fs.StringVar(&o.ProfileDir, "profile-dir", "", "write CPU profiles of the ingest and projector processes, a round and mode each, here")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	o.Parts = strings.Split(*parts, ",")
	if err := Encryption(ctx, o); err != nil {
		fmt.Fprintln(stderr, "jfbench encryption:", err)
		return 1
	}
	return 0
}

// cpuPerThousand is cpu in milliseconds per 1,000 of n events.
func cpuPerThousand(cpu time.Duration, n int) float64 {
	return float64(cpu.Microseconds()) / float64(max(n, 1))
}

// cpuOf is the CPU time (user and system) process pid has used, from
// /proc/<pid>/stat, counted in clock ticks of 1/100 s (USER_HZ, 100 on
// Linux); 0 when it cannot be read.
func cpuOf(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name, field 2, is in parentheses and may hold spaces:
	// the fields after it start at the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}
