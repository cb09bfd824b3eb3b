package deploytest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/accesslog"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/shred"
)

// natsClient is one credential's connection; the server's permission
// violations arrive on errs. nc is nil when the server refused the
// connection itself (an anonymous client).
type natsClient struct {
	nc      *nats.Conn
	errs    chan error
	dialErr error
}

func dial(t *testing.T, url string, opts ...nats.Option) *natsClient {
	t.Helper()
	c := &natsClient{errs: make(chan error, 64)}
	opts = append(opts, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case c.errs <- err:
		default:
		}
	}))
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		c.dialErr = err
		return c
	}
	t.Cleanup(nc.Close)
	c.nc = nc
	return c
}

// try sends one request and reports whether the server let it through to
// JetStream or a stream: true when anything answered (a JetStream error
// such as "not found" included: the permission was granted), false when
// the server refused it as a permissions violation, when nothing can
// answer or JetStream is not enabled (the system account) or when the
// client could not connect at all.
func (c *natsClient) try(t *testing.T, subject string, hdr nats.Header, body []byte) (bool, string) {
	t.Helper()
	if c.nc == nil {
		return false, "connection refused: " + c.dialErr.Error()
	}
	for len(c.errs) > 0 {
		<-c.errs
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type result struct {
		m   *nats.Msg
		err error
	}
	done := make(chan result, 1)
	go func() {
		m, err := c.nc.RequestMsgWithContext(ctx, &nats.Msg{Subject: subject, Header: hdr, Data: body})
		done <- result{m, err}
	}()
	for {
		select {
		case r := <-done:
			switch {
			case r.err == nil && strings.Contains(string(r.m.Data), `"err_code":10039`):
				// "JetStream not enabled for account": the system
				// account's users reach no stream at all.
				return false, string(r.m.Data)
			case r.err == nil:
				return true, string(r.m.Data)
			case errors.Is(r.err, nats.ErrNoResponders), errors.Is(r.err, nats.ErrPermissionViolation):
				return false, r.err.Error()
			}
			t.Fatalf("%s: no answer and no refusal: %v", subject, r.err)
		case err := <-c.errs:
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), `"`+subject+`"`) {
				return false, err.Error()
			}
		}
	}
}

// tryPublish publishes once, with no reply subject, and reports whether
// the server let it through: true unless it reports a permissions
// violation naming subject within a second. It is for subjects where
// nothing answers (unanswered), where try could not tell a refusal from
// the lack of a responder.
func (c *natsClient) tryPublish(t *testing.T, subject string, body []byte) (bool, string) {
	t.Helper()
	if c.nc == nil {
		return false, "connection refused: " + c.dialErr.Error()
	}
	for len(c.errs) > 0 {
		<-c.errs
	}
	if err := c.nc.Publish(subject, body); err != nil {
		return false, err.Error()
	}
	if err := c.nc.Flush(); err != nil {
		t.Fatalf("%s: flush: %v", subject, err)
	}
	timeout := time.After(time.Second)
	for {
		select {
		case err := <-c.errs:
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), `"`+subject+`"`) {
				return false, err.Error()
			}
		case <-timeout:
			return true, "no permissions violation within a second"
		}
	}
}

// trySubscribe subscribes to subject and reports whether the server let
// it. The server refuses a subscription with a permissions violation,
// which the client has read, and kept as its last error, by the time the
// flush that follows is answered.
func (c *natsClient) trySubscribe(t *testing.T, subject string) (bool, string) {
	t.Helper()
	if c.nc == nil {
		return false, "connection refused: " + c.dialErr.Error()
	}
	sub, err := c.nc.SubscribeSync(subject)
	if err != nil {
		return false, err.Error()
	}
	defer sub.Unsubscribe()
	if err := c.nc.Flush(); err != nil {
		t.Fatalf("subscribe %s: flush: %v", subject, err)
	}
	if err := c.nc.LastError(); errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), `Subscription to "`+subject+`"`) {
		return false, err.Error()
	}
	return true, "subscribed"
}

// subscribeProbe is the start of the name of a probe that subscribes to
// its subject rather than publishing on it.
const subscribeProbe = "subscribe "

// unanswered are the probes' subjects that no stream and no service
// answers: whether a publish there is allowed is whether the server
// reports a violation (tryPublish).
var unanswered = map[string]bool{unansweredSubject: true, inboxSubject: true, claimSubject: true}

const (
	// unansweredSubject is no stream's: a user that may publish it may,
	// with a stream update, store it in a stream (guard_test.go).
	unansweredSubject = "adm.x"
	// inboxSubject is where a client waits for a reply: a user that may
	// publish there can answer another client's request in the
	// account, JetStream's API and publish acks included.
	inboxSubject = "_INBOX.deploytest.x"
	// claimSubject is where the projector processes of the consumer
	// projector-a claim it, so that no two run on it at once.
	claimSubject = "jf.projector.claim.projector-a"
)

// probe is one request of the least-privilege tables. A subject may name
// serverToken, which stands for the ID of the server the client is
// connected to.
type probe struct {
	name    string
	subject string
	body    func(t *testing.T) []byte
}

// serverToken in a probe's subject is the connected server's ID: the
// system account's requests to one server ($SYS.REQ.SERVER.<id>.…) reach
// a real server, so that a refusal is the permissions' and not the lack
// of a server to answer.
const serverToken = "{server}"

// subjectFor is p's subject for the client c.
func (p probe) subjectFor(c *natsClient) string {
	if c.nc == nil {
		return p.subject
	}
	return strings.ReplaceAll(p.subject, serverToken, c.nc.ConnectedServerId())
}

func jsonBody(v any) func(*testing.T) []byte {
	return func(t *testing.T) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// defusedUpdate is a stream update that JetStream itself refuses (it
// cannot change the storage type), so that a principal allowed to update
// is seen to be allowed without the update taking effect.
func defusedUpdate(cfg jetstream.StreamConfig) func(*testing.T) []byte {
	cfg.MaxMsgs = 5
	cfg.Storage = jetstream.MemoryStorage
	return jsonBody(cfg)
}

const permFamily = "FPERM"

// legacyProjectorCfg creates the projector's consumer by the legacy
// subject; were it allowed, the consumer would deliver nothing.
var legacyProjectorCfg = map[string]any{"stream_name": eventstore.FamilyStream, "config": map[string]any{
	"name": "projector", "ack_policy": "all", "deliver_policy": "all", "filter_subject": "families.nobody.>"}}

// probes are the JetStream API subjects and stream subjects of the
// tables, in this order; consumers are the projectors' durable consumers
// (one per read replica) whose creation, info and deletion are probed.
func probes(replicas int, consumers []string) []probe {
	so := eventstore.StreamOptions{Replicas: replicas}
	fam, acc := eventstore.FamilyStream, eventstore.AccessLogStream
	ephemeralCfg := map[string]any{"stream_name": fam, "config": map[string]any{
		"name": "probe", "ack_policy": "none", "deliver_policy": "all", "inactive_threshold": int64(time.Minute)}}
	ps := []probe{
		{"STREAM.INFO FAMILY_EVENTS", "$JS.API.STREAM.INFO." + fam, nil},
		{"STREAM.INFO ACCESS_LOG", "$JS.API.STREAM.INFO." + acc, nil},
		{"STREAM.CREATE FAMILY_EVENTS", "$JS.API.STREAM.CREATE." + fam, jsonBody(eventstore.FamilyStreamConfig(so))},
		{"STREAM.UPDATE FAMILY_EVENTS", "$JS.API.STREAM.UPDATE." + fam, defusedUpdate(eventstore.FamilyStreamConfig(so))},
		{"STREAM.UPDATE ACCESS_LOG", "$JS.API.STREAM.UPDATE." + acc, defusedUpdate(eventstore.AccessLogStreamConfig(so))},
		{"STREAM.DELETE FAMILY_EVENTS", "$JS.API.STREAM.DELETE." + fam, nil},
		{"STREAM.DELETE ACCESS_LOG", "$JS.API.STREAM.DELETE." + acc, nil},
		{"STREAM.PURGE FAMILY_EVENTS", "$JS.API.STREAM.PURGE." + fam, jsonBody(map[string]any{})},
		{"STREAM.MSG.DELETE FAMILY_EVENTS", "$JS.API.STREAM.MSG.DELETE." + fam, jsonBody(map[string]any{"seq": 1})},
		{"STREAM.MSG.DELETE ACCESS_LOG", "$JS.API.STREAM.MSG.DELETE." + acc, jsonBody(map[string]any{"seq": 1})},
		{"STREAM.MSG.GET FAMILY_EVENTS", "$JS.API.STREAM.MSG.GET." + fam, jsonBody(map[string]any{"seq": 1})},
		{"DIRECT.GET FAMILY_EVENTS", "$JS.API.DIRECT.GET." + fam, jsonBody(map[string]any{"seq": 1})},
		{"STREAM.MSG.GET ACCESS_LOG", "$JS.API.STREAM.MSG.GET." + acc, jsonBody(map[string]any{"seq": 1})},
		{"DIRECT.GET ACCESS_LOG", "$JS.API.DIRECT.GET." + acc, jsonBody(map[string]any{"seq": 1})},
		{"DIRECT.GET FAMILY_EVENTS last by subject", "$JS.API.DIRECT.GET." + fam + ".families." + permFamily + ".>", nil},
		{"CONSUMER.CREATE ephemeral", "$JS.API.CONSUMER.CREATE." + fam + ".probe", jsonBody(ephemeralCfg)},
		// Whoever may create a consumer may change one of the same name:
		// a list of the stream's consumers names them all.
		{"CONSUMER.NAMES FAMILY_EVENTS", "$JS.API.CONSUMER.NAMES." + fam, nil},
		{"CONSUMER.LIST FAMILY_EVENTS", "$JS.API.CONSUMER.LIST." + fam, nil},
		// The legacy create subject names the consumer in the body only,
		// where no deny list sees it, and creates or updates: whoever may
		// publish it may change the projector's consumer.
		{"legacy create named projector", "$JS.API.CONSUMER.CREATE." + fam, jsonBody(legacyProjectorCfg)},
	}
	for _, c := range consumers {
		cfg := map[string]any{"stream_name": fam, "config": map[string]any{
			"durable_name": c, "ack_policy": "all", "deliver_policy": "all"}}
		ps = append(ps,
			probe{"CONSUMER.CREATE " + c, "$JS.API.CONSUMER.CREATE." + fam + "." + c, jsonBody(cfg)},
			probe{"CONSUMER.INFO " + c, "$JS.API.CONSUMER.INFO." + fam + "." + c, nil},
			// A pull takes the messages it gets from the projector.
			probe{"CONSUMER.MSG.NEXT " + c, "$JS.API.CONSUMER.MSG.NEXT." + fam + "." + c, jsonBody(map[string]any{"batch": 1, "no_wait": true})},
			// A paused consumer delivers nothing, which the projector
			// notices only when it next positions it.
			probe{"CONSUMER.PAUSE " + c, "$JS.API.CONSUMER.PAUSE." + fam + "." + c, jsonBody(map[string]any{"pause_until": time.Now().Add(time.Hour).UTC()})},
			probe{"CONSUMER.DELETE " + c, "$JS.API.CONSUMER.DELETE." + fam + "." + c, nil})
	}
	// The data keys' bucket (package shred): read by every process that
	// decrypts, written (a family's new key) by ingest, destroyed by no
	// service user here, and its stream purged or deleted by nobody. An
	// allowed message delete or purge would hit nothing: no such sequence,
	// no such key.
	key := eventstore.KeyStream
	ps = append(ps,
		probe{"STREAM.INFO KV_JF_KEYS", "$JS.API.STREAM.INFO." + key, nil},
		probe{"STREAM.CREATE KV_JF_KEYS", "$JS.API.STREAM.CREATE." + key, jsonBody(eventstore.KeyStreamConfig(so))},
		probe{"STREAM.UPDATE KV_JF_KEYS", "$JS.API.STREAM.UPDATE." + key, defusedUpdate(eventstore.KeyStreamConfig(so))},
		probe{"STREAM.PURGE KV_JF_KEYS", "$JS.API.STREAM.PURGE." + key, jsonBody(map[string]any{"filter": "$KV." + eventstore.KeyBucket + ".FNOBODY.0"})},
		probe{"STREAM.MSG.DELETE KV_JF_KEYS", "$JS.API.STREAM.MSG.DELETE." + key, jsonBody(map[string]any{"seq": uint64(1) << 40})},
		probe{"publish data key", "$KV." + eventstore.KeyBucket + "." + permFamily + ".0", func(*testing.T) []byte { return []byte("probe") }},
		probe{"DIRECT.GET KV_JF_KEYS", "$JS.API.DIRECT.GET." + key, jsonBody(map[string]any{"seq": 1})},
		probe{"DIRECT.GET KV_JF_KEYS data key", "$JS.API.DIRECT.GET." + key + ".$KV." + eventstore.KeyBucket + "." + permFamily + ".0", nil},
	)
	for _, d := range events.Departments {
		ps = append(ps, probe{"publish families.F." + string(d), events.Subject(permFamily, d, "meeting.held"),
			func(t *testing.T) []byte { return rawEvent(t, d, permFamily, &events.MeetingHeld{Kind: "network"}) }})
	}
	// The service's one event: erasure records family.erased.
	ps = append(ps, probe{"publish family.erased", shred.ErasedSubject(permFamily),
		func(t *testing.T) []byte {
			return rawEvent(t, events.Service, permFamily, &events.FamilyErased{Reason: "probe"})
		}})
	ps = append(ps, probe{"publish access.F", "access." + permFamily, jsonBody(map[string]any{"familyId": permFamily, "kind": "probe"})},
		// A read of every family at once: an audit replay, or an auditor's
		// list of families in the web app, which the projector serves.
		probe{"publish access.bulk.audit", accesslog.BulkSubject, jsonBody(map[string]any{"familyId": accesslog.BulkFamily, "kind": "probe"})},
		// A read of the evaluation's exact figures, which the projector
		// serves.
		probe{"publish access.bulk.evaluation", accesslog.EvaluationSubject, jsonBody(map[string]any{"familyId": accesslog.BulkFamily, "kind": "probe"})})
	// Subjects of no stream: publishing there is what a stream update
	// with a transform turns into stored events, and an inbox is where
	// another client waits for its reply.
	ps = append(ps,
		probe{"publish adm.x", unansweredSubject, func(*testing.T) []byte { return []byte("probe") }},
		probe{"publish _INBOX.x", inboxSubject, func(*testing.T) []byte { return []byte("probe") }},
		probe{"publish projector claim", claimSubject, func(*testing.T) []byte { return []byte("{}") }})
	// Subscriptions: replies and pulled messages arrive on _INBOX.>, and
	// nothing else is for any user to receive; a subscriber to
	// families.> would receive every event as it is published.
	ps = append(ps,
		probe{subscribeProbe + "_INBOX.>", "_INBOX.>", nil},
		probe{subscribeProbe + "families.>", "families.>", nil},
		probe{subscribeProbe + "projector claim", claimSubject, nil})
	// The system account: the reports `nats server report|list|info`
	// ask for, and what changes the cluster or a stream, which JetStream
	// answers from the system account only. Each request that changes
	// state is one that would do nothing here: the purge of an account
	// without streams, a peer removal naming no peer, a kick of no
	// client, and a reload that the test's servers refuse (their ports
	// are not their files').
	return append(ps,
		probe{"SYS ping STATSZ", "$SYS.REQ.SERVER.PING.STATSZ", nil},
		probe{"SYS ping JSZ", "$SYS.REQ.SERVER.PING.JSZ", nil},
		probe{"SYS server VARZ", "$SYS.REQ.SERVER." + serverToken + ".VARZ", nil},
		probe{"SYS account INFO", "$SYS.REQ.ACCOUNT.JOBOGFAMILIE.INFO", nil},
		probe{"SYS server RELOAD", "$SYS.REQ.SERVER." + serverToken + ".RELOAD", nil},
		probe{"SYS server KICK", "$SYS.REQ.SERVER." + serverToken + ".KICK", jsonBody(map[string]any{"cid": uint64(1) << 40})},
		probe{"JS ACCOUNT.PURGE", "$JS.API.ACCOUNT.PURGE.FPERM_NO_ACCOUNT", nil},
		probe{"JS SERVER.REMOVE", "$JS.API.SERVER.REMOVE", nil},
	)
}

// checkTable runs every probe as every user and compares with allowed:
// probe name → the users who may.
func checkTable(t *testing.T, replicas int, consumers []string, clients map[string]*natsClient, allowed map[string][]string) {
	t.Helper()
	ps := probes(replicas, consumers)
	if len(ps) != len(allowed) {
		t.Fatalf("%d probes, %d rows in the table", len(ps), len(allowed))
	}
	users := slices.Sorted(func(yield func(string) bool) {
		for u := range clients {
			if !yield(u) {
				return
			}
		}
	})
	for _, p := range ps {
		want, ok := allowed[p.name]
		if !ok {
			t.Fatalf("no row for %s", p.name)
		}
		for _, u := range users {
			var body []byte
			if p.body != nil {
				body = p.body(t)
			}
			var hdr nats.Header
			switch {
			case strings.HasPrefix(p.subject, "families."), strings.HasPrefix(p.subject, "access."):
				hdr = nats.Header{jetstream.MsgIDHeader: []string{fmt.Sprintf("perm-%s-%s-%d", u, p.name, time.Now().UnixNano())}}
			case strings.HasPrefix(p.subject, "$KV."):
				// As a new key is created: stored once, refused (and so
				// answered) after.
				hdr = nats.Header{jetstream.ExpectedLastSubjSeqHeader: []string{"0"}}
			}
			var got bool
			var detail string
			if strings.HasPrefix(p.name, subscribeProbe) {
				got, detail = clients[u].trySubscribe(t, p.subject)
			} else if unanswered[p.subject] {
				got, detail = clients[u].tryPublish(t, p.subject, body)
			} else {
				got, detail = clients[u].try(t, p.subjectFor(clients[u]), hdr, body)
			}
			if w := slices.Contains(want, u); got != w {
				t.Errorf("%s as %s: allowed %v, want %v (%s)", p.name, u, got, w, detail)
			}
		}
	}
}

// deployTable is deploy/nats/accounts.conf's least privilege.
var deployTable = map[string][]string{
	"STREAM.INFO FAMILY_EVENTS":                {"sof", "bif", "buf", "suf", "projector", "audit", "admin"},
	"STREAM.INFO ACCESS_LOG":                   {"sof", "bif", "buf", "suf", "projector", "audit", "admin"},
	"STREAM.CREATE FAMILY_EVENTS":              {"admin"},
	"STREAM.UPDATE FAMILY_EVENTS":              {"admin"},
	"STREAM.UPDATE ACCESS_LOG":                 {"admin"},
	"STREAM.DELETE FAMILY_EVENTS":              nil,
	"STREAM.DELETE ACCESS_LOG":                 nil,
	"STREAM.PURGE FAMILY_EVENTS":               nil,
	"STREAM.MSG.DELETE FAMILY_EVENTS":          nil,
	"STREAM.MSG.DELETE ACCESS_LOG":             nil,
	"STREAM.MSG.GET FAMILY_EVENTS":             {"audit", "admin"},
	"DIRECT.GET FAMILY_EVENTS":                 {"sof", "bif", "buf", "suf", "audit", "admin"},
	"STREAM.MSG.GET ACCESS_LOG":                {"projector", "audit", "admin"},
	"DIRECT.GET ACCESS_LOG":                    {"projector", "audit", "admin"},
	"DIRECT.GET FAMILY_EVENTS last by subject": {"sof", "bif", "buf", "suf", "audit", "admin"},
	"CONSUMER.CREATE ephemeral":                {"sof", "bif", "buf", "suf", "projector", "audit", "admin"},
	"CONSUMER.NAMES FAMILY_EVENTS":             {"admin"},
	"CONSUMER.LIST FAMILY_EVENTS":              {"admin"},
	"legacy create named projector":            nil,
	"CONSUMER.CREATE projector":                {"projector"},
	"CONSUMER.INFO projector":                  {"projector", "admin"},
	"CONSUMER.MSG.NEXT projector":              {"projector"},
	"CONSUMER.DELETE projector":                {"projector"},
	"CONSUMER.PAUSE projector":                 nil,
	"CONSUMER.CREATE projector-a":              {"projector"},
	"CONSUMER.INFO projector-a":                {"projector", "admin"},
	"CONSUMER.MSG.NEXT projector-a":            {"projector"},
	"CONSUMER.DELETE projector-a":              {"projector"},
	"CONSUMER.PAUSE projector-a":               nil,
	"CONSUMER.CREATE projector-b":              {"projector"},
	"CONSUMER.INFO projector-b":                {"projector", "admin"},
	"CONSUMER.MSG.NEXT projector-b":            {"projector"},
	"CONSUMER.DELETE projector-b":              {"projector"},
	"CONSUMER.PAUSE projector-b":               nil,
	// A department's ingest service and its system's direct publisher,
	// which may do nothing else of this table.
	"publish families.F.sof":    {"sof", "sof-system"},
	"publish families.F.bif":    {"bif", "bif-system"},
	"publish families.F.buf":    {"buf", "buf-system"},
	"publish families.F.suf":    {"suf", "suf-system"},
	"publish access.F":          {"projector", "audit"},
	"publish access.bulk.audit": {"projector", "audit"},
	// The evaluation's exact figures are served by the projector only.
	"publish access.bulk.evaluation": {"projector"},
	// Every user publishes on an allow list: admin too, whose rights were
	// once everything but a deny list.
	"publish adm.x":    nil,
	"publish _INBOX.x": nil,
	// Every user subscribes to _INBOX.> only, admin and sys included.
	"subscribe _INBOX.>":   {"sof", "bif", "buf", "suf", "sof-system", "bif-system", "buf-system", "suf-system", "projector", "audit", "admin", "sys"},
	"subscribe families.>": nil,
	// Each projector process claims its consumer on its claim subject,
	// and hears the others' claims there; nobody else may.
	"publish projector claim":   {"projector"},
	"subscribe projector claim": {"projector"},
	// Erasure runs in audit serve: it records family.erased, then
	// destroys the key (a secure message delete and a delete marker).
	"publish family.erased": {"audit"},
	// Ingest reads and creates the families' data keys; the projector
	// and audit read them; only admin (setup-streams) creates or
	// updates the bucket, no user purges it, and only audit (erasure)
	// and admin (rotate-master-key overwrites each key's message wrapped
	// by the old master key) delete a key's message.
	"STREAM.INFO KV_JF_KEYS":         {"sof", "bif", "buf", "suf", "projector", "audit", "admin"},
	"STREAM.CREATE KV_JF_KEYS":       {"admin"},
	"STREAM.UPDATE KV_JF_KEYS":       {"admin"},
	"STREAM.PURGE KV_JF_KEYS":        nil,
	"STREAM.MSG.DELETE KV_JF_KEYS":   {"audit", "admin"},
	"publish data key":               {"sof", "bif", "buf", "suf", "audit", "admin"},
	"DIRECT.GET KV_JF_KEYS":          {"sof", "bif", "buf", "suf", "projector", "audit", "admin"},
	"DIRECT.GET KV_JF_KEYS data key": {"sof", "bif", "buf", "suf", "projector", "audit", "admin"},
	// The system account's sys user asks for reports and changes
	// nothing: no account purge (it would delete every stream of
	// JOBOGFAMILIE, the data keys included), no peer removal, no reload,
	// no kick.
	"SYS ping STATSZ":   {"sys"},
	"SYS ping JSZ":      {"sys"},
	"SYS server VARZ":   {"sys"},
	"SYS account INFO":  {"sys"},
	"SYS server RELOAD": nil,
	"SYS server KICK":   nil,
	"JS ACCOUNT.PURGE":  nil,
	"JS SERVER.REMOVE":  nil,
}

// deployConsumers are the projectors' durable consumers of
// deploy/nats/accounts.conf: the single projector's and compose.yaml's
// two read replicas' (-instance a and b).
var deployConsumers = []string{"projector", "projector-a", "projector-b"}

// standaloneTable is the standalone's generated keys' least privilege.
var standaloneTable = map[string][]string{
	"STREAM.INFO FAMILY_EVENTS":                {"operator", "audit"},
	"STREAM.INFO ACCESS_LOG":                   {"operator", "audit"},
	"STREAM.CREATE FAMILY_EVENTS":              nil,
	"STREAM.UPDATE FAMILY_EVENTS":              nil,
	"STREAM.UPDATE ACCESS_LOG":                 nil,
	"STREAM.DELETE FAMILY_EVENTS":              nil,
	"STREAM.DELETE ACCESS_LOG":                 nil,
	"STREAM.PURGE FAMILY_EVENTS":               nil,
	"STREAM.MSG.DELETE FAMILY_EVENTS":          nil,
	"STREAM.MSG.DELETE ACCESS_LOG":             nil,
	"STREAM.MSG.GET FAMILY_EVENTS":             {"operator", "audit"},
	"DIRECT.GET FAMILY_EVENTS":                 {"operator", "audit"},
	"STREAM.MSG.GET ACCESS_LOG":                {"operator", "audit"},
	"DIRECT.GET ACCESS_LOG":                    {"operator", "audit"},
	"DIRECT.GET FAMILY_EVENTS last by subject": {"operator", "audit"},
	"CONSUMER.CREATE ephemeral":                {"operator", "audit"},
	// The operator and the audit CLI learn no consumer's name this way:
	// they may change any consumer they can name
	// (TestOperatorCannotFindTheServicesConsumers).
	"CONSUMER.NAMES FAMILY_EVENTS":  nil,
	"CONSUMER.LIST FAMILY_EVENTS":   nil,
	"legacy create named projector": nil,
	"CONSUMER.CREATE projector":     nil,
	"CONSUMER.INFO projector":       {"operator", "audit"},
	"CONSUMER.MSG.NEXT projector":   nil,
	"CONSUMER.DELETE projector":     nil,
	"CONSUMER.PAUSE projector":      nil,
	"publish families.F.sof":        {"sof"},
	"publish families.F.bif":        {"bif"},
	"publish families.F.buf":        {"buf"},
	"publish families.F.suf":        {"suf"},
	// The audit CLI records its reads of family data, as the deploy
	// audit user does.
	"publish access.F":               {"audit"},
	"publish access.bulk.audit":      {"audit"},
	"publish access.bulk.evaluation": nil,
	"publish family.erased":          nil,
	"publish adm.x":                  nil,
	"publish _INBOX.x":               nil,
	"subscribe _INBOX.>":             {"operator", "audit", "sof", "bif", "buf", "suf"},
	"subscribe families.>":           nil,
	// The claim of the projector's consumer is the service's own.
	"publish projector claim":   nil,
	"subscribe projector claim": nil,
	// The operator and the audit CLI read the wrapped keys (audit
	// export); the departments' direct publishers reach nothing of the
	// bucket.
	"STREAM.INFO KV_JF_KEYS":         {"operator", "audit"},
	"STREAM.CREATE KV_JF_KEYS":       nil,
	"STREAM.UPDATE KV_JF_KEYS":       nil,
	"STREAM.PURGE KV_JF_KEYS":        nil,
	"STREAM.MSG.DELETE KV_JF_KEYS":   nil,
	"publish data key":               nil,
	"DIRECT.GET KV_JF_KEYS":          {"operator", "audit"},
	"DIRECT.GET KV_JF_KEYS data key": {"operator", "audit"},
	// No key of the standalone is in the system account.
	"SYS ping STATSZ":   nil,
	"SYS ping JSZ":      nil,
	"SYS server VARZ":   nil,
	"SYS account INFO":  nil,
	"SYS server RELOAD": nil,
	"SYS server KICK":   nil,
	"JS ACCOUNT.PURGE":  nil,
	"JS SERVER.REMOVE":  nil,
}

// hostileCase is one row of testdata/hostile-nats.json.
type hostileCase struct {
	Attack     string `json:"attack"`
	Credential string `json:"credential"`
	Expect     string `json:"expect"`
	Why        string `json:"why"`
}

func loadHostile(t *testing.T) []hostileCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "hostile-nats.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Attacks map[string]string `json:"attacks"`
		Cases   []hostileCase     `json:"cases"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range doc.Cases {
		k := c.Attack + " " + c.Credential
		if seen[k] || doc.Attacks[c.Attack] == "" || (c.Expect != "allowed" && c.Expect != "refused") {
			t.Fatalf("hostile-nats.json: case %s is repeated, names an unknown attack or expects %q", k, c.Expect)
		}
		if c.Expect == "allowed" && c.Why == "" {
			t.Fatalf("hostile-nats.json: %s is allowed without a why", k)
		}
		seen[k] = true
	}
	return doc.Cases
}

// hostileAttack builds an attack's request; allowed stream updates are
// defused (see defusedUpdate).
func hostileAttack(t *testing.T, attack string, replicas int, allowed bool) (string, nats.Header, []byte) {
	t.Helper()
	so := eventstore.StreamOptions{Replicas: replicas}
	fam, acc := eventstore.FamilyStream, eventstore.AccessLogStream
	msgID := func() nats.Header {
		return nats.Header{jetstream.MsgIDHeader: []string{fmt.Sprintf("hostile-%d", time.Now().UnixNano())}}
	}
	update := func(cfg jetstream.StreamConfig) []byte {
		if allowed {
			return defusedUpdate(cfg)(t)
		}
		cfg.MaxMsgs = 5
		return jsonBody(cfg)(t)
	}
	switch attack {
	case "forge-caseworker-assigned":
		return events.Subject("FHOSTILE", events.SOF, "caseworker.assigned"), msgID(),
			rawEvent(t, events.SOF, "FHOSTILE", &events.CaseworkerAssigned{EmployeeID: "E9999"})
	case "forge-access-log":
		return "access.FHOSTILE", msgID(), jsonBody(map[string]any{
			"time": time.Now().UTC(), "familyId": "FHOSTILE", "principal": "dev-coordinator",
			"kind": "coordinator", "employeeId": "E1001", "endpoint": "/v1/families/FHOSTILE", "purpose": "forged"})(t)
	case "update-family-maxmsgs":
		return "$JS.API.STREAM.UPDATE." + fam, nil, update(eventstore.FamilyStreamConfig(so))
	case "update-access-maxmsgs":
		return "$JS.API.STREAM.UPDATE." + acc, nil, update(eventstore.AccessLogStreamConfig(so))
	case "delete-family-stream":
		return "$JS.API.STREAM.DELETE." + fam, nil, nil
	case "delete-access-stream":
		return "$JS.API.STREAM.DELETE." + acc, nil, nil
	case "purge-family":
		return "$JS.API.STREAM.PURGE." + fam, nil, []byte(`{}`)
	case "purge-access":
		return "$JS.API.STREAM.PURGE." + acc, nil, []byte(`{}`)
	case "delete-family-msg":
		return "$JS.API.STREAM.MSG.DELETE." + fam, nil, []byte(`{"seq":1}`)
	case "delete-access-msg":
		return "$JS.API.STREAM.MSG.DELETE." + acc, nil, []byte(`{"seq":1}`)
	case "delete-projector-consumer":
		return "$JS.API.CONSUMER.DELETE." + fam + ".projector", nil, nil
	case "legacy-create-projector-consumer":
		return "$JS.API.CONSUMER.CREATE." + fam, nil, jsonBody(legacyProjectorCfg)(t)
	}
	t.Fatalf("unknown attack %s", attack)
	return "", nil, nil
}

// runHostile runs the cases of one side ("standalone" or "deploy") with
// its clients (by credential name) and returns how many messages the
// allowed cases added to each stream.
func runHostile(t *testing.T, side string, replicas int, clients map[string]*natsClient) map[string]uint64 {
	t.Helper()
	added := map[string]uint64{}
	n := 0
	for _, c := range loadHostile(t) {
		name, ok := strings.CutPrefix(c.Credential, side+":")
		if !ok {
			continue
		}
		cl, ok := clients[name]
		if !ok {
			t.Fatalf("no client for %s", c.Credential)
		}
		n++
		subj, hdr, body := hostileAttack(t, c.Attack, replicas, c.Expect == "allowed")
		got, detail := cl.try(t, subj, hdr, body)
		if got != (c.Expect == "allowed") {
			t.Errorf("%s as %s: allowed %v, want %s (%s)", c.Attack, c.Credential, got, c.Expect, detail)
			continue
		}
		if !got {
			continue
		}
		var apiErr struct {
			Error *struct{ Description string } `json:"error"`
		}
		_ = json.Unmarshal([]byte(detail), &apiErr)
		switch {
		case strings.HasPrefix(subj, "families."), strings.HasPrefix(subj, "access."):
			if apiErr.Error != nil {
				t.Errorf("%s as %s: not stored: %s", c.Attack, c.Credential, detail)
			} else if strings.HasPrefix(subj, "families.") {
				added[eventstore.FamilyStream]++
			} else {
				added[eventstore.AccessLogStream]++
			}
		case strings.Contains(subj, ".STREAM.UPDATE.") && apiErr.Error == nil:
			t.Errorf("%s as %s: the defused update was applied: %s", c.Attack, c.Credential, detail)
		}
	}
	t.Logf("%s: %d hostile cases", side, n)
	if n == 0 {
		t.Fatalf("no hostile cases for %s", side)
	}
	return added
}

// streamState is what the attacks must not change.
type streamState struct{ first, msgs uint64 }

func streamStates(t *testing.T, js jetstream.JetStream) map[string]streamState {
	t.Helper()
	st := map[string]streamState{}
	for _, name := range []string{eventstore.FamilyStream, eventstore.AccessLogStream} {
		s, err := js.Stream(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if info.Config.MaxMsgs != -1 || !info.Config.DenyDelete || !info.Config.DenyPurge {
			t.Errorf("%s: max msgs %d, deny delete %v, deny purge %v", name, info.Config.MaxMsgs, info.Config.DenyDelete, info.Config.DenyPurge)
		}
		st[name] = streamState{info.State.FirstSeq, info.State.Msgs}
	}
	return st
}

// checkIntact: both streams hold what they held before and what the
// allowed cases added, from the same first message, and the projector's
// consumer exists, unfiltered and not paused.
func checkIntact(t *testing.T, js jetstream.JetStream, before map[string]streamState, added map[string]uint64) {
	t.Helper()
	checkFor(t, 20*time.Second, func() error {
		after := streamStates(t, js)
		for name, b := range before {
			want := streamState{b.first, b.msgs + added[name]}
			if after[name] != want {
				return fmt.Errorf("%s: first %d, %d messages; want first %d, %d", name, after[name].first, after[name].msgs, want.first, want.msgs)
			}
		}
		c, err := js.Consumer(context.Background(), eventstore.FamilyStream, "projector")
		if err != nil {
			return err
		}
		if info := c.CachedInfo(); info.Config.FilterSubject != "" || len(info.Config.FilterSubjects) > 0 || info.Paused {
			return fmt.Errorf("the projector's consumer was changed: filter %q %q, paused %v",
				info.Config.FilterSubject, info.Config.FilterSubjects, info.Paused)
		}
		return nil
	})
}

// TestStandaloneKeys: a listening embedded server keeps its operator's,
// its audit CLI's and departments' seeds in its key directory, owner only, reuses them,
// and grants each exactly what CONTRACT.md says; no key is no access.
func TestStandaloneKeys(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "nats")
	start := func() *eventstore.Embedded {
		e, err := eventstore.StartEmbedded(eventstore.EmbeddedOptions{StoreDir: dir, Listen: "127.0.0.1:-1"})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := start()
	seeds := map[string][]byte{}
	for _, role := range eventstore.OuterRoles() {
		fi, err := os.Stat(e.KeyFile(role))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v", role, fi.Mode().Perm())
		}
		seeds[role], _ = os.ReadFile(e.KeyFile(role))
		if !strings.HasPrefix(string(seeds[role]), "SU") {
			t.Errorf("%s.nk does not hold a user seed", role)
		}
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm()&0o007 != 0 {
		t.Errorf("key directory: %v, %v", fi.Mode(), err)
	}
	// A second start reuses the keys; a deleted one is made again.
	e.Shutdown()
	e.WaitForShutdown()
	if err := os.Remove(e.KeyFile("suf")); err != nil {
		t.Fatal(err)
	}
	e = start()
	t.Cleanup(func() { e.Shutdown(); e.WaitForShutdown() })
	for _, role := range eventstore.OuterRoles() {
		b, err := os.ReadFile(e.KeyFile(role))
		if err != nil {
			t.Fatal(err)
		}
		if reused := string(b) == string(seeds[role]); reused != (role != "suf") {
			t.Errorf("%s: reused %v", role, reused)
		}
	}

	clients := map[string]*natsClient{"anonymous": dial(t, e.ClientURL(), nats.MaxReconnects(0))}
	if clients["anonymous"].nc != nil {
		t.Fatal("the embedded server accepted an anonymous client")
	}
	for _, role := range eventstore.OuterRoles() {
		opt, err := nats.NkeyOptionFromSeed(e.KeyFile(role))
		if err != nil {
			t.Fatal(err)
		}
		clients[role] = dial(t, e.ClientURL(), opt)
		if clients[role].nc == nil {
			t.Fatalf("%s: %v", role, clients[role].dialErr)
		}
	}

	// The service key's connection: a projector consumer and some
	// messages to attack.
	svc := dial(t, e.ClientURL(), e.Service.Option())
	js, err := jetstream.New(svc.nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateConsumer(ctx, eventstore.FamilyStream, jetstream.ConsumerConfig{Durable: "projector", AckPolicy: jetstream.AckAllPolicy}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := js.Publish(ctx, events.Subject("FSEED", events.SOF, "meeting.held"), rawEvent(t, events.SOF, "FSEED", &events.MeetingHeld{Kind: "family"})); err != nil {
			t.Fatal(i, err)
		}
		if _, err := js.Publish(ctx, "access.FSEED", []byte(`{"familyId":"FSEED"}`)); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("least privilege", func(t *testing.T) {
		checkTable(t, 1, []string{"projector"}, clients, standaloneTable)
	})
	// A department's key: a connection of its own, whose permissions
	// violations arrive on its errs.
	deptKey := func(t *testing.T, role string) *natsClient {
		t.Helper()
		opt, err := nats.NkeyOptionFromSeed(e.KeyFile(role))
		if err != nil {
			t.Fatal(err)
		}
		c := dial(t, e.ClientURL(), opt)
		if c.nc == nil {
			t.Fatalf("%s: %v", role, c.dialErr)
		}
		return c
	}
	t.Run("department keys publish only their own subjects", func(t *testing.T) {
		// CONTRACT.md: a department system may publish directly, limited
		// to its families.*.<dept>.>. Its key, alone in its department's
		// account, gets the stream's acknowledgement through the import,
		// and nothing else: the least-privilege table and the hostile
		// corpus try the JetStream API with these keys too.
		for i, d := range events.Departments {
			role := string(d)
			c := deptKey(t, role)
			djs, err := jetstream.New(c.nc)
			if err != nil {
				t.Fatal(err)
			}
			own := events.Subject("FKEY1", d, "meeting.held")
			msg := &nats.Msg{Subject: own, Header: nats.Header{jetstream.MsgIDHeader: []string{"standalone-" + role + "-1"}},
				Data: rawEvent(t, d, "FKEY1", &events.MeetingHeld{Kind: "network"})}
			ack, err := djs.PublishMsg(ctx, msg)
			if err != nil || ack.Stream != eventstore.FamilyStream || ack.Duplicate {
				t.Fatalf("%s.nk publishing %s: %+v, %v", role, own, ack, err)
			}
			// The headers cross the import: the event id deduplicates.
			again, err := djs.PublishMsg(ctx, msg)
			if err != nil || !again.Duplicate || again.Sequence != ack.Sequence {
				t.Fatalf("%s.nk publishing %s again: %+v, %v", role, own, again, err)
			}
			fam, err := js.Stream(ctx, eventstore.FamilyStream)
			if err != nil {
				t.Fatal(err)
			}
			got, err := fam.GetMsg(ctx, ack.Sequence)
			if err != nil || got.Subject != own {
				t.Fatalf("sequence %d: %v, %v; want it on %s", ack.Sequence, got, err, own)
			}

			// Another department's subject: refused, never acknowledged.
			other := events.Departments[(i+1)%len(events.Departments)]
			foreign := events.Subject("FKEY1", other, "meeting.held")
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			_, err = djs.Publish(pctx, foreign, rawEvent(t, other, "FKEY1", &events.MeetingHeld{Kind: "network"}))
			cancel()
			if err == nil {
				t.Fatalf("%s.nk's publish to %s was acknowledged", role, foreign)
			}
			expectViolation(t, c.errs, foreign)

			// No stream information: the JetStream API is refused (the
			// least-privilege table tries every subject of it).
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			_, err = djs.Stream(sctx, eventstore.FamilyStream)
			cancel()
			if err == nil {
				t.Fatalf("%s.nk read the stream information", role)
			}
			expectViolation(t, c.errs, "$JS.API.STREAM.INFO."+eventstore.FamilyStream)
		}
	})
	t.Run("department keys see no other replies and redirect no acks", func(t *testing.T) {
		c := deptKey(t, "sof")
		sjs, err := jetstream.New(c.nc)
		if err != nil {
			t.Fatal(err)
		}
		// The services' consumers pull the events onto their _INBOX
		// subjects. The key's _INBOX.> is its own account's: it receives
		// none of them, nor any other user's reply.
		spy, err := c.nc.SubscribeSync("_INBOX.>")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.nc.SubscribeSync(">"); err != nil {
			t.Fatal(err)
		}
		expectViolation(t, c.errs, ">")
		seen := events.Subject("FKEY2", events.BIF, "meeting.held")
		if _, err := js.Publish(ctx, seen, rawEvent(t, events.BIF, "FKEY2", &events.MeetingHeld{Kind: "network"})); err != nil {
			t.Fatal(err)
		}
		oc, err := js.OrderedConsumer(ctx, eventstore.FamilyStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{seen}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := oc.Next(jetstream.FetchMaxWait(5 * time.Second)); err != nil {
			t.Fatalf("the service reading %s: %v", seen, err)
		}
		if m, err := spy.NextMsg(time.Second); err == nil {
			t.Errorf("sof.nk received %s on %s: %.80s", m.Subject, m.Sub.Subject, m.Data)
		}

		// A publish names where its acknowledgement goes. Across the
		// import the server replaces that reply subject, so naming
		// another department's subject, the access log or a data key
		// stores nothing there.
		fam := "FKEY3"
		before := streamMsgs(t, js, eventstore.FamilyStream)
		accessBefore := streamMsgs(t, js, eventstore.AccessLogStream)
		keysBefore := streamMsgs(t, js, eventstore.KeyStream)
		own := events.Subject(fam, events.SOF, "meeting.held")
		redirects := []string{events.Subject(fam, events.BIF, "meeting.held"), "access." + fam, "$KV." + eventstore.KeyBucket + "." + fam + ".0"}
		for _, reply := range redirects {
			if err := c.nc.PublishMsg(&nats.Msg{Subject: own, Reply: reply,
				Header: nats.Header{jetstream.MsgIDHeader: []string{"standalone-redirect-" + reply}},
				Data:   rawEvent(t, events.SOF, fam, &events.MeetingHeld{Kind: "network"})}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := sjs.Publish(ctx, own, rawEvent(t, events.SOF, fam, &events.MeetingHeld{Kind: "network"})); err != nil {
			t.Fatal(err)
		}
		// The acknowledgements, had they gone there, would be stored
		// right after the publishes: give them a second.
		time.Sleep(time.Second)
		if after := streamMsgs(t, js, eventstore.FamilyStream); after != before+uint64(len(redirects))+1 {
			t.Errorf("%s went from %d to %d messages, want the %d publishes only", eventstore.FamilyStream, before, after, len(redirects)+1)
		}
		if after := streamMsgs(t, js, eventstore.AccessLogStream); after != accessBefore {
			t.Errorf("%s went from %d to %d messages", eventstore.AccessLogStream, accessBefore, after)
		}
		if after := streamMsgs(t, js, eventstore.KeyStream); after != keysBefore {
			t.Errorf("%s went from %d to %d messages", eventstore.KeyStream, keysBefore, after)
		}
		stored, err := js.Stream(ctx, eventstore.FamilyStream)
		if err != nil {
			t.Fatal(err)
		}
		if m, err := stored.GetLastMsgForSubject(ctx, redirects[0]); err == nil {
			t.Errorf("%s holds %s", redirects[0], m.Data)
		}
	})
	t.Run("hostile", func(t *testing.T) {
		before := streamStates(t, js)
		added := runHostile(t, "standalone", 1, clients)
		checkIntact(t, js, before, added)
	})
}

// TestEmbeddedReplicaConsumer: an embedded server that serves a read
// replica (-instance a) gives its service key the rights on that replica's
// consumer, projector-a, and keeps the operator's key from creating,
// deleting or pulling from it, as it does for the single projector's.
func TestEmbeddedReplicaConsumer(t *testing.T) {
	t.Parallel()
	e, err := eventstore.StartEmbedded(eventstore.EmbeddedOptions{
		StoreDir: filepath.Join(t.TempDir(), "nats"), Listen: "127.0.0.1:-1", ProjectorConsumer: eventstore.ProjectorConsumer("a"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Shutdown(); e.WaitForShutdown() })
	opt, err := nats.NkeyOptionFromSeed(e.KeyFile(eventstore.RoleOperator))
	if err != nil {
		t.Fatal(err)
	}
	clients := map[string]*natsClient{"operator": dial(t, e.ClientURL(), opt), "service": dial(t, e.ClientURL(), e.Service.Option())}
	for u, c := range clients {
		if c.nc == nil {
			t.Fatalf("%s: %v", u, c.dialErr)
		}
	}
	// probes in order: each consumer is created, read and deleted.
	allowed := map[string][]string{
		"CONSUMER.CREATE projector-a":   {"service"},
		"CONSUMER.INFO projector-a":     {"operator", "service"},
		"CONSUMER.MSG.NEXT projector-a": {"service"},
		"CONSUMER.DELETE projector-a":   {"service"},
	}
	for _, p := range probes(1, []string{"projector-a"}) {
		want, ok := allowed[p.name]
		if !ok {
			continue
		}
		for _, u := range []string{"operator", "service"} {
			var body []byte
			if p.body != nil {
				body = p.body(t)
			}
			got, detail := clients[u].try(t, p.subject, nil, body)
			if w := slices.Contains(want, u); got != w {
				t.Errorf("%s as %s: allowed %v, want %v (%s)", p.name, u, got, w, detail)
			}
		}
	}
}
