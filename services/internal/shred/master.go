package shred

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/services/internal/durable"
	"kk.dk/jobogfamilie/services/internal/eventstore"
)

// MasterKey wraps the data keys. The operator provides it (a file or an
// environment variable); it is never stored in the bucket or the repo.
type MasterKey struct {
	id   string
	aead cipher.AEAD
}

// ID names the key without revealing it: the first 16 hex digits of a
// SHA-256 of it. A wrapped data key records the ID it was wrapped with.
func (m MasterKey) ID() string { return m.id }

// ParseMasterKey reads a master key written as 64 hex digits or as the
// standard base64 of 32 bytes, surrounding white space ignored.
func ParseMasterKey(text string) (MasterKey, error) {
	s := strings.TrimSpace(text)
	var key []byte
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		key = b
	} else if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == 32 {
		key = b
	} else {
		return MasterKey{}, errors.New("shred: a master key is 32 bytes written as 64 hex digits or base64")
	}
	a, err := newGCM(key)
	if err != nil {
		return MasterKey{}, err
	}
	sum := sha256.Sum256(append([]byte("jobogfamilie master key id\x00"), key...))
	return MasterKey{id: hex.EncodeToString(sum[:8]), aead: a}, nil
}

// NewMasterKeyText makes a fresh master key, written as hex.
func NewMasterKeyText() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// LoadMasterKeyFile reads a master key file.
func LoadMasterKeyFile(path string) (MasterKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return MasterKey{}, fmt.Errorf("shred: master key file: %w", err)
	}
	m, err := ParseMasterKey(string(b))
	if err != nil {
		return MasterKey{}, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// DevMasterKeyFile is where the standalone's dev configuration keeps the
// master key it makes on first start: <data>/keys/master.key.
func DevMasterKeyFile(dataDir string) string { return filepath.Join(dataDir, "keys", "master.key") }

// LoadOrCreateDevMasterKey reads the dev master key file, making it (mode
// 0600, its directory 0700) when it does not exist. Only the dev
// configuration does this: a production operator provides the key.
//
// The key opens every data key: a file or directory found with wider
// modes is taken to the owner's alone. The file is written whole, then
// linked into its place, so that a stop part way leaves no key file at
// all, never an empty one; an empty file (which holds no key anyone
// used) is made again.
func LoadOrCreateDevMasterKey(dataDir string) (MasterKey, error) {
	path := DevMasterKeyFile(dataDir)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return MasterKey{}, err
	}
	if err := ownerOnly(dir, 0o700); err != nil {
		return MasterKey{}, err
	}
	fi, err := os.Stat(path)
	if err == nil && fi.Mode().IsRegular() && fi.Size() == 0 {
		if err := os.Remove(path); err != nil {
			return MasterKey{}, fmt.Errorf("shred: dev master key: %w", err)
		}
		err = os.ErrNotExist
	}
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := createDevMasterKey(path); err != nil {
			return MasterKey{}, fmt.Errorf("shred: dev master key: %w", err)
		}
	case err != nil:
		return MasterKey{}, fmt.Errorf("shred: dev master key: %w", err)
	}
	if err := ownerOnly(path, 0o600); err != nil {
		return MasterKey{}, err
	}
	return LoadMasterKeyFile(path)
}

// createDevMasterKey writes a fresh key to path; a key another start put
// there first is kept.
func createDevMasterKey(path string) error {
	text, err := NewMasterKeyText()
	if err != nil {
		return err
	}
	if err := durable.CreateFile(path, []byte(text+"\n"), 0o600); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return nil
}

// ownerOnly takes group and other access away from path.
func ownerOnly(path string, mode os.FileMode) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("shred: dev master key: %w", err)
	}
	if fi.Mode().Perm()&^mode != 0 {
		if err := os.Chmod(path, fi.Mode().Perm()&mode); err != nil {
			return fmt.Errorf("shred: dev master key: %w", err)
		}
	}
	return nil
}

// wrap seals a data key under the master key, bound to its key id.
func (m MasterKey) wrap(keyID string, dataKey []byte) ([]byte, error) {
	nonce := make([]byte, m.aead.NonceSize(), m.aead.NonceSize()+len(dataKey)+m.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	ct := m.aead.Seal(nonce, nonce, dataKey, []byte("jfkey\x00"+keyID))
	return []byte("v1:" + m.id + ":" + base64.RawStdEncoding.EncodeToString(ct)), nil
}

// ErrOtherMaster: a data key was wrapped by another master key than the
// process's: the processes of one deployment were given different master
// keys (a dev config makes one per data directory), or the process runs
// with the old key after a rotation. Its error names both keys' ids.
var ErrOtherMaster = errors.New("shred: data key wrapped by another master key")

var errOtherMaster = ErrOtherMaster

// otherMaster is ErrOtherMaster for the data key keyID, wrapped by the
// master key whose id is wrappedBy; keyID "" is the bucket's newest key,
// not named.
func (m MasterKey) otherMaster(keyID, wrappedBy string) error {
	what := "the newest data key of " + eventstore.KeyBucket
	if keyID != "" {
		what = "data key " + keyID
	}
	return fmt.Errorf("%w: %s is wrapped by master key %s, this process has master key %s; "+
		"give every process of the deployment the same -master-key-file (JF_MASTER_KEY_FILE)", errOtherMaster, what, wrappedBy, m.id)
}

// wrappedBy is the id of the master key a wrapped data key names.
func wrappedBy(v []byte) (string, bool) {
	parts := strings.SplitN(string(v), ":", 3)
	if len(parts) != 3 || parts[0] != "v1" {
		return "", false
	}
	return parts[1], true
}

// CheckMaster is a readiness check: it fails, naming both master keys'
// ids, when the newest data key in the bucket is wrapped by another
// master key than the keyring's, for then this process can open none of
// the keys the others make. A bucket that does not exist yet, is empty,
// or whose newest message is a destroyed key's marker passes. /readyz
// answers without a token, so the error names no data key: a data key's
// id is its family's id.
func (k *Keyring) CheckMaster(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := k.js.Stream(ctx, eventstore.KeyStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("shred: key bucket %s: %w", eventstore.KeyBucket, err)
	}
	last := s.CachedInfo().State.LastSeq
	if last == 0 {
		return nil
	}
	msg, err := s.GetMsg(ctx, last)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("shred: key bucket %s: %w", eventstore.KeyBucket, err)
	}
	id, ok := wrappedBy(msg.Data)
	if !ok || id == k.master.id {
		return nil
	}
	return k.master.otherMaster("", id)
}

// unwrap opens a wrapped data key.
func (m MasterKey) unwrap(keyID string, v []byte) ([]byte, error) {
	parts := strings.SplitN(string(v), ":", 3)
	if len(parts) != 3 || parts[0] != "v1" {
		return nil, fmt.Errorf("shred: data key %s: not a wrapped key", keyID)
	}
	if parts[1] != m.id {
		return nil, m.otherMaster(keyID, parts[1])
	}
	ct, err := base64.RawStdEncoding.DecodeString(parts[2])
	if err != nil || len(ct) < m.aead.NonceSize()+m.aead.Overhead() {
		return nil, fmt.Errorf("shred: data key %s: not a wrapped key", keyID)
	}
	k, err := m.aead.Open(nil, ct[:m.aead.NonceSize()], ct[m.aead.NonceSize():], []byte("jfkey\x00"+keyID))
	if err != nil {
		return nil, fmt.Errorf("shred: data key %s does not open with master key %s", keyID, m.id)
	}
	return k, nil
}
