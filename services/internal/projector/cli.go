package projector

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"kk.dk/jobogfamilie/services/internal/config"
)

// RebuildCommand is `projector rebuild -url URL -token TOKEN`: it asks a
// running projector (or standalone) to rebuild its read model and prints
// the progress until the new model is swapped in. It returns the process
// exit code: 0 done, 1 failed, 2 usage.
func RebuildCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("projector rebuild", flag.ContinueOnError)
	fs.SetOutput(stderr)
	// The environment is read after parsing (config.FromEnvironment): as a
	// default, the usage would print JF_TOKEN.
	base := fs.String("url", "http://127.0.0.1:8080", "base URL of the projector's API (JF_PROJECTOR_URL)")
	token := fs.String("token", "", "operator bearer token (JF_TOKEN)")
	every := fs.Duration("interval", 500*time.Millisecond, "how often to report progress")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := config.FromEnvironment(fs, getenv, map[string]string{"url": "JF_PROJECTOR_URL", "token": "JF_TOKEN"}); err != nil {
		fmt.Fprintln(stderr, "projector rebuild:", err)
		return 2
	}
	if fs.NArg() > 0 || *token == "" {
		fmt.Fprintln(stderr, "usage: projector rebuild -url http://127.0.0.1:8080 -token <operator token>")
		return 2
	}
	if *every <= 0 {
		fmt.Fprintln(stderr, "projector rebuild: -interval must be positive")
		return 2
	}
	c := &http.Client{Timeout: 10 * time.Second}
	url := strings.TrimRight(*base, "/") + "/v1/admin/rebuild"
	st, code, err := rebuildCall(ctx, c, http.MethodPost, url, *token)
	switch {
	case err != nil:
		fmt.Fprintln(stderr, "projector rebuild:", err)
		return 1
	case code == http.StatusConflict:
		fmt.Fprintln(stdout, "a rebuild is already running; following it")
	case code != http.StatusAccepted:
		fmt.Fprintf(stderr, "projector rebuild: %s answered %d\n", url, code)
		return 1
	}
	start := time.Now()
	// The rebuild followed, by when it started: a status without one, or
	// with another, is not of this rebuild.
	var followed *time.Time
	for {
		if why := lost(st, followed); why != "" {
			fmt.Fprintf(stderr, "projector rebuild: %s answers %s; the rebuild's outcome is in that projector's log\n", url, why)
			return 1
		}
		if followed == nil {
			followed = st.StartedAt
		}
		if st.State != "" {
			fmt.Fprintf(stdout, "%-8s %s applied %d of %d (%s)\n", st.State, st.Model, st.Applied, st.Target, time.Since(start).Round(time.Millisecond))
		}
		switch st.State {
		case RebuildDone:
			fmt.Fprintln(stdout, "rebuild done: the new read model is live")
			return 0
		case RebuildFailed:
			fmt.Fprintln(stderr, "rebuild failed:", st.Error)
			return 1
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(stderr, "projector rebuild: interrupted; the rebuild goes on in the server")
			return 1
		case <-time.After(*every):
		}
		st, code, err = rebuildCall(ctx, c, http.MethodGet, url, *token)
		if err != nil || code != http.StatusOK {
			fmt.Fprintf(stderr, "projector rebuild: status: %d %v\n", code, err)
			return 1
		}
	}
}

// lost says why st is not the status of the rebuild that started at
// followed (nil: the one running when the command asked, not yet seen),
// or "" when it is: a projector that answers "idle" has no rebuild (it
// restarted, and the rebuild ended with it), and one whose rebuild
// started at another time is another rebuild (another replica behind a
// balancer answered).
func lost(st RebuildStatus, followed *time.Time) string {
	switch {
	case st.State == RebuildIdle:
		return "that no rebuild has run since it started (it restarted, or another replica answered)"
	case followed != nil && (st.StartedAt == nil || !st.StartedAt.Equal(*followed)):
		return "the status of another rebuild (it restarted, or another replica answered)"
	}
	return ""
}

func rebuildCall(ctx context.Context, c *http.Client, method, url, token string) (RebuildStatus, int, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return RebuildStatus{}, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return RebuildStatus{}, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return RebuildStatus{}, resp.StatusCode, err
	}
	var st RebuildStatus
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusAccepted {
		if err := json.Unmarshal(b, &st); err != nil {
			return st, resp.StatusCode, fmt.Errorf("unreadable status: %w", err)
		}
	} else if resp.StatusCode != http.StatusConflict {
		return st, resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return st, resp.StatusCode, nil
}
