package eventstore

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"kk.dk/jobogfamilie/services/internal/durable"
)

// The embedded server accepts no anonymous client: every connection is an
// NKey user with the permissions of its role. The processes inside the
// binary use keys generated at each start and kept in memory only; people
// and department systems outside it use the keys kept in the key
// directory (<data>/nats), made on the first start that listens. Each
// department's key and the operator's are in an account of their own
// (embeddedUsers); every other user is in the services' account, which
// holds the streams.

// Identity is an NKey user: its seed signs the server's challenge.
type Identity struct {
	seed []byte
	pub  string
}

// NewIdentity generates a user key.
func NewIdentity() (Identity, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return Identity{}, err
	}
	seed, err := kp.Seed()
	if err != nil {
		return Identity{}, err
	}
	return IdentityFromSeed(seed)
}

// IdentityFromSeed reads a user seed ("SU…"), as kept in a seed file.
func IdentityFromSeed(seed []byte) (Identity, error) {
	seed = bytes.TrimSpace(seed)
	kp, err := nkeys.FromSeed(seed)
	if err != nil {
		return Identity{}, fmt.Errorf("eventstore: nkey seed: %w", err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return Identity{}, err
	}
	if !nkeys.IsValidPublicUserKey(pub) {
		return Identity{}, errors.New("eventstore: nkey seed is not a user key (SU…)")
	}
	return Identity{seed: append([]byte(nil), seed...), pub: pub}, nil
}

// Public is the user's public key ("U…"), what the server knows of it.
func (i Identity) Public() string { return i.pub }

// Seed is the user's secret.
func (i Identity) Seed() []byte { return append([]byte(nil), i.seed...) }

// Option authenticates a nats.go connection as this user.
func (i Identity) Option() nats.Option {
	return nats.Nkey(i.pub, func(nonce []byte) ([]byte, error) {
		kp, err := nkeys.FromSeed(i.seed)
		if err != nil {
			return nil, err
		}
		defer kp.Wipe()
		return kp.Sign(nonce)
	})
}

// WriteSeedFile writes the seed where `nats --nkey` and -nats-nkey read
// it, readable by the owner only.
func (i Identity) WriteSeedFile(path string) error {
	return writeSecret(path, append(i.Seed(), '\n'))
}

// Roles of the embedded server's users.
const (
	// RoleSetup creates or updates the streams once at start; its key is
	// dropped afterwards.
	RoleSetup = "setup"
	// RoleService is the processes inside the binary: ingest, projector
	// and audit on one connection.
	RoleService = "service"
	// RoleOperator is people with the nats CLI: read-only.
	RoleOperator = "operator"
	// RoleAudit is the audit CLI's (`bin/audit replay`, `export`,
	// `erase-due`): it reads as the operator does, and appends its reads
	// of family data to the access log, access.<familyId> and
	// access.bulk.audit (accesslog.BulkSubject), as the audit user of
	// deploy/ may: a read that decrypts is recorded before it is made.
	RoleAudit = "audit"
)

// AuditReadSubjects are what RoleAudit may publish beyond the operator's
// reads: the access log of one family, and of a replay of every family.
var AuditReadSubjects = []string{"access.*", "access.bulk.audit"}

// AuditSubjects are what RoleAudit may publish: the operator's reads and
// AuditReadSubjects.
func AuditSubjects() []string { return append(OperatorSubjects(), AuditReadSubjects...) }

// Departments whose systems get a key of their own (CONTRACT.md: publish
// to their own families.*.<dept>.> only). The names are events.Departments'.
var Departments = []string{"sof", "bif", "buf", "suf"}

// ProjectorConsumer is the name of the durable consumer on FAMILY_EVENTS
// of the projector named instance (config -instance): "projector" for the
// single projector of a deployment, "projector-<instance>" for each of
// several read replicas. Never rename one: a new name is a new consumer,
// and the old one would keep its state on the server.
func ProjectorConsumer(instance string) string {
	if instance == "" {
		return "projector"
	}
	return "projector-" + instance
}

// ProjectorClaimSubject is the core NATS subject where the processes of
// the durable consumer named consumer (ProjectorConsumer) claim it, so
// that no two run on it at once (package projector, claim.go). No stream
// holds it; only the projector may publish or subscribe there
// (jf.projector.claim.* in deploy/nats/accounts.conf).
func ProjectorClaimSubject(consumer string) string { return "jf.projector.claim." + consumer }

// notTheProjectorsConsumer keeps everyone but the service from creating
// (and so changing) the projector's durable consumer named consumer, and
// from pulling from it: a pull takes the messages it gets from the
// projector, which then sees a gap and starts over from its checkpoint.
func notTheProjectorsConsumers(consumers []string) []string {
	var deny []string
	for _, c := range consumers {
		deny = append(deny,
			"$JS.API.CONSUMER.CREATE.*."+c,
			"$JS.API.CONSUMER.CREATE.*."+c+".>",
			"$JS.API.CONSUMER.DURABLE.CREATE.*."+c,
			"$JS.API.CONSUMER.MSG.NEXT.*."+c)
	}
	return deny
}

func perms(pub, deny, sub []string) *server.Permissions {
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: pub, Deny: deny},
		Subscribe: &server.SubjectPermission{Allow: sub},
	}
}

// inbox is where replies (publish acks, API answers, pulled messages)
// arrive.
var inbox = []string{"_INBOX.>"}

// Permissions are what a role may do on the embedded server. There is no
// stream delete or purge for anyone, stream create and update only for
// the setup key, message delete only for the service on the data keys'
// bucket (erasure destroys a key), and consumer delete only for the
// service on the projector's durable consumer (it repositions it by
// deleting and creating it): the single projector's, "projector". The
// operator reads the wrapped data keys; the departments' keys reach
// nothing of them.
func Permissions(role string) (*server.Permissions, error) {
	return PermissionsFor(role, ProjectorConsumer(""))
}

// PermissionsFor is Permissions on a server whose projectors read through
// the durable consumers projectorConsumers (a read replica's,
// ProjectorConsumer(instance)).
func PermissionsFor(role string, projectorConsumers ...string) (*server.Permissions, error) {
	streams := []string{FamilyStream, AccessLogStream}
	var pub []string
	switch role {
	case RoleSetup:
		pub = []string{"$JS.API.INFO"}
		for _, s := range append(streams, KeyStream) {
			pub = append(pub, "$JS.API.STREAM.INFO."+s, "$JS.API.STREAM.CREATE."+s, "$JS.API.STREAM.UPDATE."+s)
		}
		return perms(pub, nil, inbox), nil
	case RoleService:
		pub = []string{FamilySubjects, AccessSubjects}
		var claims []string
		for _, c := range projectorConsumers {
			pub = append(pub,
				"$JS.API.CONSUMER.INFO."+FamilyStream+"."+c,
				"$JS.API.CONSUMER.DELETE."+FamilyStream+"."+c,
				"$JS.ACK."+FamilyStream+"."+c+".>",
				ProjectorClaimSubject(c))
			claims = append(claims, ProjectorClaimSubject(c))
		}
		for _, s := range streams {
			pub = append(pub,
				"$JS.API.STREAM.INFO."+s,
				"$JS.API.STREAM.MSG.GET."+s,
				"$JS.API.DIRECT.GET."+s, "$JS.API.DIRECT.GET."+s+".>",
				"$JS.API.CONSUMER.CREATE."+s, "$JS.API.CONSUMER.CREATE."+s+".>",
				"$JS.API.CONSUMER.MSG.NEXT."+s+".*")
		}
		// The data keys (package shred): read, create (ingest), and
		// destroy (erasure) by a secure delete of the key's message and
		// a delete marker; list them for rotate-master-key. Never a
		// purge or delete of the bucket's stream.
		pub = append(pub, KeyReadSubjects()...)
		pub = append(pub, KeyValueSubjects,
			"$JS.API.STREAM.MSG.GET."+KeyStream,
			"$JS.API.STREAM.MSG.DELETE."+KeyStream,
			"$JS.API.CONSUMER.CREATE."+KeyStream, "$JS.API.CONSUMER.CREATE."+KeyStream+".>",
			"$JS.API.CONSUMER.MSG.NEXT."+KeyStream+".*")
		// The projector's claim of its consumer (ProjectorClaimSubject)
		// is heard on its subject, besides the replies on the inbox.
		return perms(pub, nil, append(slices.Clone(inbox), claims...)), nil
	case RoleOperator:
		return perms(OperatorSubjects(), notTheProjectorsConsumers(projectorConsumers), inbox), nil
	case RoleAudit:
		// The audit CLI's key reads as the operator's does, from an
		// account of its own (AuditAccount), and records its reads in the
		// access log.
		return perms(AuditSubjects(), notTheProjectorsConsumers(projectorConsumers), inbox), nil
	}
	if isDepartment(role) {
		// A JetStream publish needs only its subject and the inbox where
		// the acknowledgement arrives. On the embedded server the key is
		// in an account of its own (embeddedUsers): its _INBOX.> holds its
		// own replies only.
		return perms([]string{DepartmentSubjects(role)}, nil, inbox), nil
	}
	return nil, fmt.Errorf("eventstore: no NATS role %q", role)
}

// OperatorSubjects are the JetStream API subjects the operator's key
// reaches, from an account of its own (OperatorAccount) that imports them
// from the services' account: stream information, messages by sequence
// or subject (direct gets), the wrapped data keys (for `audit export
// -master-key-file`; without the master key they open nothing), and
// pull consumers of its own, as `audit replay|verify|export` (ordered
// consumers) and `nats stream view` read. A consumer is created by name
// (not by the bare legacy CONSUMER.CREATE.<stream>, which names it in the
// body only), and whoever may create one may also change one of that
// name: so the projector's is refused by name (Permissions' deny list),
// and the operator learns no other name: it may not list a stream's
// consumers, and in its own account it receives none of the services'
// replies, whose acknowledgement subjects name their consumers. The
// services' ordered consumers have random names (nats.go's NUID, 22
// characters, drawn in the services' process). A consumer's information
// is granted by name only. Push consumers cannot deliver to another
// account: there is no flow control ($JS.FC.>) to answer.
func OperatorSubjects() []string {
	pub := []string{"$JS.API.INFO", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.LIST"}
	for _, s := range []string{FamilyStream, AccessLogStream} {
		pub = append(pub,
			"$JS.API.STREAM.INFO."+s,
			"$JS.API.STREAM.MSG.GET."+s,
			"$JS.API.DIRECT.GET."+s, "$JS.API.DIRECT.GET."+s+".>",
			"$JS.API.CONSUMER.INFO."+s+".*",
			"$JS.API.CONSUMER.CREATE."+s+".>",
			"$JS.API.CONSUMER.MSG.NEXT."+s+".*")
	}
	return append(pub, KeyReadSubjects()...)
}

// KeyValueSubjects are the subjects of the data keys' values,
// $KV.JF_KEYS.<familyId>.<generation> (shred.KeyID): the only subjects
// anyone but the setup step may write to the bucket.
const KeyValueSubjects = "$KV." + KeyBucket + ".*.*"

// KeyReadSubjects are the JetStream API subjects that read the data keys
// of JF_KEYS (package shred), wrapped by the master key: the bucket's
// stream info (binding the bucket), a key's last value by its subject,
// and a message by its sequence (the master key readiness check). Every
// process that decrypts needs them; none of them writes or destroys a key.
func KeyReadSubjects() []string {
	return []string{
		"$JS.API.STREAM.INFO." + KeyStream,
		"$JS.API.DIRECT.GET." + KeyStream,
		"$JS.API.DIRECT.GET." + KeyStream + "." + KeyValueSubjects,
	}
}

// OuterRoles are the users that a listening embedded server keeps keys
// for in its key directory: the operator's, the audit CLI's and one per
// department.
func OuterRoles() []string { return append([]string{RoleOperator, RoleAudit}, Departments...) }

// KeyFile is the seed file of role in dir (<data>/nats/operator.nk).
func KeyFile(dir, role string) string { return filepath.Join(dir, role+".nk") }

// LoadOrCreateKeys reads the outer roles' seed files in dir, making the
// directory (owner only) and any missing key. A key that exists is reused,
// so that the department systems' and operators' copies stay valid.
func LoadOrCreateKeys(dir string) (map[string]Identity, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("eventstore: key directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		// The keys are secrets: nobody but the owner lists or reads them.
		if err := os.Chmod(dir, fi.Mode().Perm()&0o700); err != nil {
			return nil, fmt.Errorf("eventstore: key directory: %w", err)
		}
	}
	ids := map[string]Identity{}
	for _, role := range OuterRoles() {
		path := KeyFile(dir, role)
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			id, err := IdentityFromSeed(b)
			if err != nil {
				return nil, fmt.Errorf("eventstore: %s: %w", path, err)
			}
			if err := os.Chmod(path, 0o600); err != nil {
				return nil, err
			}
			ids[role] = id
		case errors.Is(err, fs.ErrNotExist):
			id, err := NewIdentity()
			if err != nil {
				return nil, err
			}
			if err := id.WriteSeedFile(path); err != nil {
				return nil, fmt.Errorf("eventstore: %s: %w", path, err)
			}
			ids[role] = id
		default:
			return nil, fmt.Errorf("eventstore: %w", err)
		}
	}
	return ids, nil
}

// writeSecret writes b to path with mode 0600, replacing it atomically.
func writeSecret(path string, b []byte) error {
	return durable.WriteFile(path, b, 0o600)
}

// nkeyUser is a user of the embedded server.
func nkeyUser(id Identity, role string, projectorConsumers []string) (*server.NkeyUser, error) {
	p, err := PermissionsFor(role, projectorConsumers...)
	if err != nil {
		return nil, err
	}
	return &server.NkeyUser{Nkey: id.Public(), Permissions: p}, nil
}

// ServicesAccount is the embedded server's account of the services, the
// setup and the operator's key, which holds the streams: the server's
// global account, under which the streams have always been stored.
const ServicesAccount = server.DEFAULT_GLOBAL_ACCOUNT

// DepartmentAccount is the account of a department's key on the embedded
// server ("SOF_SYSTEM"), named as deploy/nats/accounts.conf names the
// department systems' accounts.
func DepartmentAccount(dept string) string { return strings.ToUpper(dept) + "_SYSTEM" }

// OperatorAccount is the account of the operator's key on the embedded
// server, which imports OperatorSubjects from the services' account.
const OperatorAccount = "OPERATOR"

// AuditAccount is the account of the audit CLI's key on the embedded
// server: as the operator's, it imports the reading API, and besides the
// access log's subjects, so that it sees none of the services' replies.
const AuditAccount = "AUDIT"

// DepartmentSubjects are the subjects a department's key may publish on.
func DepartmentSubjects(dept string) string { return "families.*." + dept + ".>" }

func isDepartment(role string) bool { return slices.Contains(Departments, role) }

// embeddedUsers are the embedded server's users of ids (role → key) and
// its accounts. Every role but a department's, the operator's and the
// audit CLI's is a user of the services' account. A department's key is alone in an
// account of its own, which imports from the services' account only that
// department's subjects, exported to it alone (a service import, so that
// the stream's publish acknowledgement comes back to the publisher). A
// user of the services' account, even one that may publish on nothing but
// its department's subjects, could do more: subscribed to _INBOX.> it would receive every
// reply in the account, the events the services' consumers pull
// included, and a publish whose reply subject names another stream's
// subject (another department's, access.<family>, a data key's) makes the
// stream store its acknowledgement there, since the server checks no
// reply subject against the permissions. Across the import the server
// replaces the reply subject, and the department's account carries
// nothing but its own replies. The operator's key is alone in an account
// of its own too, which imports from the services' account the reading
// API of OperatorSubjects: there it sees none of the services' replies,
// which name their consumers (OperatorSubjects says why that matters).
// The audit CLI's key likewise, with the access log's subjects besides. No accounts (nil) when there is no outer key:
// all users are then in the global account.
func embeddedUsers(ids map[string]Identity, projectorConsumers []string) ([]*server.NkeyUser, []*server.Account, error) {
	services := server.NewAccount(ServicesAccount)
	var users []*server.NkeyUser
	var outer []*server.Account
	// The accounts that import each exported subject: one export a
	// subject, approving all of them.
	imports := map[string][]*server.Account{}
	var order []string
	export := func(acc *server.Account, subjects []string) {
		for _, subj := range subjects {
			if _, ok := imports[subj]; !ok {
				order = append(order, subj)
			}
			imports[subj] = append(imports[subj], acc)
		}
	}
	for _, role := range slices.Sorted(maps.Keys(ids)) {
		u, err := nkeyUser(ids[role], role, projectorConsumers)
		if err != nil {
			return nil, nil, err
		}
		switch {
		case isDepartment(role):
			acc := server.NewAccount(DepartmentAccount(role))
			subj := DepartmentSubjects(role)
			if err := services.AddServiceExport(subj, []*server.Account{acc}); err != nil {
				return nil, nil, fmt.Errorf("eventstore: export %s to %s: %w", subj, acc.Name, err)
			}
			if err := acc.AddServiceImport(services, subj, ""); err != nil {
				return nil, nil, fmt.Errorf("eventstore: import %s into %s: %w", subj, acc.Name, err)
			}
			u.Account = acc
			outer = append(outer, acc)
		case role == RoleOperator:
			acc := server.NewAccount(OperatorAccount)
			export(acc, OperatorSubjects())
			u.Account = acc
			outer = append(outer, acc)
		case role == RoleAudit:
			acc := server.NewAccount(AuditAccount)
			export(acc, AuditSubjects())
			u.Account = acc
			outer = append(outer, acc)
		}
		users = append(users, u)
	}
	for _, subj := range order {
		// Streamed: a pull's messages and a batch of direct gets are many
		// answers to one request.
		if err := services.AddServiceExportWithResponse(subj, server.Streamed, imports[subj]); err != nil {
			return nil, nil, fmt.Errorf("eventstore: export %s: %w", subj, err)
		}
		for _, acc := range imports[subj] {
			if err := acc.AddServiceImport(services, subj, ""); err != nil {
				return nil, nil, fmt.Errorf("eventstore: import %s into %s: %w", subj, acc.Name, err)
			}
		}
	}
	if len(outer) == 0 {
		return users, nil, nil
	}
	return users, append([]*server.Account{services}, outer...), nil
}
