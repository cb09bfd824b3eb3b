package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/erasure"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/shred"
)

// eraseDueCommand is `audit erase-due`: it lists the families whose
// retention period has ended (GET /v1/privacy/due) and, only when the
// person running it says -yes, archives each one (export -family, with
// the plaintext, checked by verify-export) and then erases it (POST
// …/erase), one family at a time, stopping at the first failure. Without
// -yes it changes nothing.
func eraseDueCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit erase-due", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", getenv("JF_PRIVACY_URL"), "base URL of the API that serves /v1/privacy (JF_PRIVACY_URL)")
	token := fs.String("token", "", "the data protection officer's bearer token (JF_TOKEN)")
	yes := fs.Bool("yes", false, "archive and erase the families listed; without it nothing is changed")
	reason := fs.String("reason", "", "the legal ground recorded in each family.erased (with -yes)")
	archive := fs.String("archive", "", "directory that receives one archive per family, <archive>/<familyId> (with -yes)")
	natsURL := natsURLVar(fs, getenv, "NATS URL the archives are read from (JF_NATS_URL)")
	natsNKey := fs.String("nats-nkey", getenv("JF_NATS_NKEY"), "NKey seed file for -nats-url (JF_NATS_NKEY)")
	masterFile := fs.String("master-key-file", getenv("JF_MASTER_KEY_FILE"), "master key file: the archives hold the plaintext (JF_MASTER_KEY_FILE, or the key in JF_MASTER_KEY)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usageError("erase-due takes flags only")
	case *base == "" || *token == "":
		return usageError("give -url and -token (a dpo token)")
	case *yes && (strings.TrimSpace(*reason) == "" || *archive == "" || *natsURL == ""):
		return usageError("-yes needs -reason, -archive and -nats-url: every family is archived before it is erased")
	case *yes && *masterFile == "" && getenv("JF_MASTER_KEY") == "":
		return usageError("-yes needs -master-key-file (or JF_MASTER_KEY): an archive without the plaintext would keep nothing of what erasure removes")
	}
	api := privacyAPI{base: strings.TrimRight(*base, "/"), token: *token}
	due, err := api.due(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d families due for erasure\n", len(due))
	// The dates are days in Copenhagen, as the retention rule counts them.
	for _, d := range due {
		fmt.Fprintf(stdout, "  %s  %s since %s, due %s\n", d.FamilyID, d.Basis, d.Since.In(family.Copenhagen).Format(time.DateOnly), d.DueAt.In(family.Copenhagen).Format(time.DateOnly))
	}
	if !*yes || len(due) == 0 {
		if len(due) > 0 {
			fmt.Fprintln(stdout, "nothing archived or erased: run again with -yes -reason … -archive DIR to do it")
		}
		return nil
	}
	m, err := config.Config{MasterKeyFile: *masterFile, MasterKey: getenv("JF_MASTER_KEY")}.LoadMasterKey(false)
	if err != nil {
		return err
	}
	nc, js, err := connect(*natsURL, *natsNKey)
	if err != nil {
		return err
	}
	defer nc.Close()
	keys := shred.New(js, m)
	// A master key other than the deployment's opens no data key: every
	// archive would hold ciphertext only.
	if err := keys.CheckMaster(ctx); err != nil {
		return fmt.Errorf("nothing archived or erased: %w", err)
	}
	acc := newCLIAccess(js, getenv, auth.DPO, ErasureArchivePurpose)
	for i, d := range due {
		dir := filepath.Join(*archive, d.FamilyID)
		man, err := archiveFamily(ctx, js, keys, acc, dir, d.FamilyID, stdout)
		if err != nil {
			return fmt.Errorf("family %s not erased (%d of %d erased): archive: %w", d.FamilyID, i, len(due), err)
		}
		// The API erases only while the archive's last event is the
		// family's last: one stored since is archived by the next run.
		res, err := api.erase(ctx, d.FamilyID, *reason, man.LastSequence)
		if err != nil {
			return fmt.Errorf("family %s archived in %s, not erased (%d of %d erased): %w", d.FamilyID, dir, i, len(due), err)
		}
		fmt.Fprintf(stdout, "erased %s: %d events archived in %s (chain %s), family.erased at sequence %d, key destroyed %t\n",
			d.FamilyID, man.Count, dir, man.Chain.Final, res.Sequence, res.KeyDestroyed)
	}
	return nil
}

// archiveFamily exports family's events to dir, decrypted, and checks the
// archive. An archive left by an earlier run that stopped before erasing
// is checked and kept while it holds every event the stream now holds of
// the family (the same count and last sequence); when the stream has
// moved on (an event stored since, e.g. a backfill that kept the family
// due), the family is exported again beside it and the new archive,
// checked, takes its place. Either way the archive must hold the
// plaintext: an event that does not decrypt stops it, named by its
// sequence, before anything is erased. Each export, which decrypts, is
// recorded in the access log (acc) before it reads.
func archiveFamily(ctx context.Context, js jetstream.JetStream, keys *shred.Keyring, acc cliAccess, dir, family string, stdout io.Writer) (Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if errors.Is(err, os.ErrNotExist) {
		return exportArchive(ctx, js, keys, acc, dir, family)
	}
	var m Manifest
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		return Manifest{}, err
	}
	if m.Family != family {
		return Manifest{}, fmt.Errorf("%s holds an archive of %q, not of family %s", dir, m.Family, family)
	}
	if err := checkArchive(dir); err != nil {
		return Manifest{}, err
	}
	count, last, err := familyInStream(ctx, js, family)
	if err != nil {
		return Manifest{}, err
	}
	switch {
	case count == m.Count && last == m.LastSequence:
		return m, nil
	case count < m.Count || last < m.LastSequence:
		return Manifest{}, fmt.Errorf("%s holds %d events up to sequence %d, the stream now %d up to %d: the archive holds events the stream no longer has; it is kept as it is",
			dir, m.Count, m.LastSequence, count, last)
	}
	fmt.Fprintf(stdout, "%s: the archive in %s holds %d events up to sequence %d, the stream now %d up to %d: archiving it again\n",
		family, dir, m.Count, m.LastSequence, count, last)
	return exportArchive(ctx, js, keys, acc, dir, family)
}

// familyInStream is what FAMILY_EVENTS holds of family now: the number of
// its events and the sequence of its last.
func familyInStream(ctx context.Context, js jetstream.JetStream, family string) (count, last uint64, err error) {
	s, err := js.Stream(ctx, eventstore.FamilyStream)
	if err != nil {
		return 0, 0, err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(events.FamilyFilter(family)))
	if err != nil {
		return 0, 0, err
	}
	for _, n := range info.State.Subjects {
		count += n
	}
	msg, err := s.GetLastMsgForSubject(ctx, events.FamilyFilter(family))
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return count, 0, nil
	case err != nil:
		return 0, 0, err
	}
	return count, msg.Sequence, nil
}

// exportArchive exports family into a new directory beside dir, checks
// it, and only then puts it in dir's place, so that dir never holds an
// incomplete archive; an old archive there is removed once the new one
// is in its place. The read is recorded in the access log first.
func exportArchive(ctx context.Context, js jetstream.JetStream, keys *shred.Keyring, acc cliAccess, dir, family string) (Manifest, error) {
	if err := acc.record(ctx, "audit erase-due", family); err != nil {
		return Manifest{}, err
	}
	parent, base := filepath.Split(filepath.Clean(dir))
	if parent == "" {
		parent = "."
	}
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return Manifest{}, err
	}
	tmp, err := os.MkdirTemp(parent, "."+base+".new-")
	if err != nil {
		return Manifest{}, err
	}
	// After the swap tmp holds the archive replaced, or nothing.
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o700); err != nil {
		return Manifest{}, err
	}
	m, err := Export(ctx, js, tmp, ExportOptions{Family: family, Keys: keys, Plaintext: true})
	if err != nil {
		return Manifest{}, err
	}
	if err := checkArchive(tmp); err != nil {
		return Manifest{}, err
	}
	if err := syncDir(tmp); err != nil {
		return Manifest{}, err
	}
	if err := putInPlace(tmp, dir); err != nil {
		return Manifest{}, err
	}
	if err := syncDir(parent); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// putInPlace moves the directory tmp to dir. A dir that exists must be an
// archive (manifest.json) or what an export that stopped left (its events
// and chain, no manifest): it is moved aside to tmp's name, whose caller
// removes it, once tmp is in its place. A stop between the two renames
// leaves dir without an archive and the old one beside it; the family is
// not erased then, and the next run exports it again.
func putInPlace(tmp, dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return os.Rename(tmp, dir)
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if n := e.Name(); n != EventsFile && n != ChainFile && n != ManifestFile {
			return fmt.Errorf("%s holds %s: not an archive, left as it is", dir, n)
		}
	}
	old := tmp + ".old"
	if err := os.Rename(dir, old); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if rerr := os.Rename(old, dir); rerr != nil {
			return fmt.Errorf("%w; the archive that was in %s is in %s", err, dir, old)
		}
		return err
	}
	return os.Rename(old, tmp)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// checkArchive runs verify-export on dir and makes sure that no line
// holds an event as stored, encrypted.
func checkArchive(dir string) error {
	res, err := VerifyExport(dir)
	if err != nil {
		return err
	}
	if !res.OK {
		return fmt.Errorf("verify-export %s: %s", dir, res.Problem)
	}
	line, seq, reason, err := FirstCiphertext(dir)
	if err != nil {
		return err
	}
	if line != 0 {
		return fmt.Errorf("%s line %d, sequence %d: %w: %s", dir, line, seq, ErrCiphertext, reason)
	}
	return nil
}

// privacyAPI is the data protection officer's side of a running API, read
// with the API's own types (package erasure).
type privacyAPI struct {
	base, token string
}

func (a privacyAPI) do(ctx context.Context, method, path string, body []byte, into any, ok ...int) error {
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	for _, code := range ok {
		if resp.StatusCode == code {
			return json.NewDecoder(resp.Body).Decode(into)
		}
	}
	return apiError(resp)
}

func (a privacyAPI) due(ctx context.Context) ([]erasure.Due, error) {
	var res struct {
		Families []erasure.Due `json:"families"`
	}
	if err := a.do(ctx, http.MethodGet, "/v1/privacy/due", nil, &res, http.StatusOK); err != nil {
		return nil, err
	}
	return res.Families, nil
}

func (a privacyAPI) erase(ctx context.Context, family, reason string, lastSequence uint64) (erasure.Result, error) {
	body, err := json.Marshal(map[string]any{"reason": reason, "lastSequence": lastSequence})
	if err != nil {
		return erasure.Result{}, err
	}
	var res erasure.Result
	err = a.do(ctx, http.MethodPost, "/v1/privacy/families/"+family+"/erase", body, &res, http.StatusCreated, http.StatusOK)
	if err == nil && !res.KeyDestroyed {
		err = errors.New("the API recorded the erasure but did not destroy the key yet; it resumes on its restart")
	}
	return res, err
}
