package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"sync"
	"time"

	"kk.dk/jobogfamilie/services/internal/ingest"
)

// IngestChildFlag makes jfbench the ingest process of the ingest bench.
const IngestChildFlag = "ingest-child"

// childStats is what the ingest process reports after a phase.
type childStats struct {
	BatchRequests uint64 `json:"batchRequests"`
	AtomicBatches uint64 `json:"atomicBatches"`
	HeapInuse     uint64 `json:"heapInuse"`
	PeakRSS       int64  `json:"peakRSS"`
	RSS           int64  `json:"rss"`
}

// IngestChild is the ingest process of the bench: the ingest API of every
// department against natsURL, in a process of its own as a department
// service is deployed, so that its CPU and heap are not shared with the
// NATS server. Once its index has caught up it writes its URL as one line
// on out; it runs until stdin closes (the bench has ended) or ctx ends.
// Besides the ingest API it serves GET /bench/stats and starts and stops
// CPU profiles and execution traces on POST and DELETE
// /bench/profile?file=…, so that the bench can profile each phase in the
// process that does the work.
func IngestChild(ctx context.Context, natsURL string, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	url, stop, err := startIngest(ctx, natsURL, func(mux *http.ServeMux, svc *ingest.Service) {
		mountChildEndpoints(mux, func() childStats {
			reqs, batches := svc.Writer.BatchStats()
			return childStats{BatchRequests: reqs, AtomicBatches: batches}
		})
	})
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintln(out, url)
	<-ctx.Done()
	return nil
}

// mountChildEndpoints serves a bench child's GET /bench/stats (stats, with
// the process's heap and peak RSS) and the start and stop of its CPU
// profile, written to file, and execution trace, written beside it with the
// extension .trace, on POST and DELETE /bench/profile?file=….
func mountChildEndpoints(mux *http.ServeMux, stats func() childStats) {
	var mu sync.Mutex
	var prof, tr *os.File
	mux.HandleFunc("GET /bench/stats", func(w http.ResponseWriter, r *http.Request) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		st := stats()
		st.HeapInuse, st.PeakRSS, st.RSS = ms.HeapInuse, peakRSS(), rssOf(os.Getpid(), "VmRSS")
		_ = json.NewEncoder(w).Encode(st)
	})
	mux.HandleFunc("POST /bench/profile", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		file := r.URL.Query().Get("file")
		f, err := startInto(file, pprof.StartCPUProfile)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		// An execution trace beside it shows what the CPU profile cannot:
		// where a request waits (go tool trace -pprof=sync).
		t, err := startInto(beside(file, ".trace"), trace.Start)
		if err != nil {
			pprof.StopCPUProfile()
			f.Close()
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		prof, tr = f, t
	})
	mux.HandleFunc("DELETE /bench/profile", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if prof != nil {
			pprof.StopCPUProfile()
			prof.Close()
			prof = nil
		}
		if tr != nil {
			trace.Stop()
			tr.Close()
			tr = nil
		}
	})
}

// startInto creates file and starts a recording (a CPU profile or an
// execution trace) into it; the file is closed if the recording does not
// start.
func startInto(file string, start func(io.Writer) error) (*os.File, error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := start(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// beside is file's name without its extension, followed by suffix.
func beside(file, suffix string) string {
	return strings.TrimSuffix(file, filepath.Ext(file)) + suffix
}

// ingestProcess is the bench's handle on a child process: ingest's or the
// peer forwarder's.
type ingestProcess struct {
	URL  string
	cmd  *exec.Cmd
	in   io.WriteCloser
	errs *bytes.Buffer
}

// startIngestChild starts the ingest process against natsURL, with its
// data (the index store) in dataDir, and waits until its index has caught
// up with the stream.
func startIngestChild(ctx context.Context, natsURL, nkey, dataDir string) (*ingestProcess, error) {
	return startChild(ctx, IngestChildFlag, natsURL, nkey, "JF_DATA_DIR="+dataDir)
}

// startChild starts jfbench again as the child that flag names, against
// natsURL with the key nkey and the environment env added, and waits for
// its URL.
func startChild(ctx context.Context, flag, natsURL, nkey string, env ...string) (*ingestProcess, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return startChildOf(ctx, exe, flag, natsURL, nkey, env...)
}

// startChildOf is startChild with the jfbench binary exe: a test, whose
// own executable is not jfbench, passes one it built.
func startChildOf(ctx context.Context, exe, flag, natsURL, nkey string, env ...string) (*ingestProcess, error) {
	cmd := exec.CommandContext(ctx, exe, "-"+flag, natsURL)
	cmd.Env = append(append(os.Environ(), "JF_NATS_NKEY="+nkey), env...)
	errs := &bytes.Buffer{}
	cmd.Stderr = errs
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Wait()
		return nil, fmt.Errorf("bench: %s process: %v: %s", flag, err, errs.String())
	}
	return &ingestProcess{URL: line[:len(line)-1], cmd: cmd, in: in, errs: errs}, nil
}

// Stop ends the ingest process.
func (p *ingestProcess) Stop() {
	p.in.Close()
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// Stats asks the ingest process for its figures.
func (p *ingestProcess) Stats() (childStats, error) {
	var st childStats
	resp, err := http.Get(p.URL + "/bench/stats")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// Profile runs fn under a CPU profile of the ingest process, written to
// file, and one of this process (the clients and the NATS server), written
// beside it with "-bench" before the extension; with file empty it only
// runs fn.
func (p *ingestProcess) Profile(file string, fn func()) error {
	if file == "" {
		fn()
		return nil
	}
	own, err := startInto(beside(file, "-bench"+filepath.Ext(file)), pprof.StartCPUProfile)
	if err != nil {
		return err
	}
	defer own.Close()
	defer pprof.StopCPUProfile()
	resp, err := http.Post(p.URL+"/bench/profile?file="+url.QueryEscape(file), "", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("bench: starting the ingest profile: %s", resp.Status)
	}
	fn()
	req, _ := http.NewRequest(http.MethodDelete, p.URL+"/bench/profile", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}
