package deploytest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/accesslog"
	"kk.dk/jobogfamilie/services/internal/audit"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/demo"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/ingest"
	"kk.dk/jobogfamilie/services/internal/projector"
	"kk.dk/jobogfamilie/services/internal/shred"
	"kk.dk/jobogfamilie/services/internal/standalone"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// natsUsers are the users of deploy/nats/accounts.conf; the server reads
// each one's password hash from JF_NATS_<USER>_HASH (hashVar). The
// <dept>-system users are the department systems' direct publishers.
var natsUsers = []string{
	"sof", "bif", "buf", "suf",
	"sof-system", "bif-system", "buf-system", "suf-system",
	"projector", "audit", "admin", "sys",
}

// natsAccounts are the accounts of deploy/nats/accounts.conf's users: a
// department system's user is alone in its department's account, which
// reaches nothing of JOBOGFAMILIE but that department's family subjects.
var natsAccounts = map[string]string{
	"sof-system": "SOF_SYSTEM", "bif-system": "BIF_SYSTEM", "buf-system": "BUF_SYSTEM", "suf-system": "SUF_SYSTEM",
	"sys": "SYS",
}

// natsAccount is user's account in deploy/nats/accounts.conf.
func natsAccount(user string) string {
	if a, ok := natsAccounts[user]; ok {
		return a
	}
	return "JOBOGFAMILIE"
}

// passwords are this run's, random: the deploy files hold none.
var passwords = map[string]string{}

func TestMain(m *testing.M) {
	for _, u := range natsUsers {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		passwords[u] = hex.EncodeToString(b)
		// The lowest cost keeps the many connections of the tests fast;
		// the server accepts any bcrypt cost.
		h, err := bcrypt.GenerateFromPassword([]byte(passwords[u]), bcrypt.MinCost)
		if err != nil {
			panic(err)
		}
		os.Setenv(hashVar(u), string(h))
	}
	os.Exit(m.Run())
}

// envVar is the environment variable JF_NATS_<USER>_<what> of a NATS
// user; a dash of the user's name is an underscore there.
func envVar(user, what string) string {
	return "JF_NATS_" + strings.ToUpper(strings.ReplaceAll(user, "-", "_")) + "_" + what
}

func hashVar(user string) string { return envVar(user, "HASH") }

// repo is the path of the repository's root from this package.
func repo(parts ...string) string {
	return filepath.Join(append([]string{"..", "..", ".."}, parts...)...)
}

var nodes = []string{"nats-1", "nats-2", "nats-3"}

var checkFor = testenv.CheckFor

// TestNATSConfigsParse reads each node's config as nats-server does and
// checks what the deployment relies on.
func TestNATSConfigsParse(t *testing.T) {
	t.Parallel()
	for _, node := range nodes {
		opts, err := server.ProcessConfigFile(repo("deploy", "nats", node+".conf"))
		if err != nil {
			t.Fatalf("%s: %v", node, err)
		}
		if opts.ServerName != node || !opts.JetStream || opts.StoreDir != "/var/lib/nats/jetstream" {
			t.Errorf("%s: server_name %q, jetstream %v, store_dir %q", node, opts.ServerName, opts.JetStream, opts.StoreDir)
		}
		if opts.Cluster.Name != "jobogfamilie" || opts.Cluster.Port != 6222 || len(opts.Routes) != 3 {
			t.Errorf("%s: cluster %q port %d with %d routes", node, opts.Cluster.Name, opts.Cluster.Port, len(opts.Routes))
		}
		if opts.Port != 4222 || opts.HTTPHost != "127.0.0.1" {
			t.Errorf("%s: clients on %d, monitoring on %q", node, opts.Port, opts.HTTPHost)
		}
		if opts.SystemAccount != "SYS" {
			t.Errorf("%s: system account %q", node, opts.SystemAccount)
		}
		users := map[string]*server.User{}
		for _, u := range opts.Users {
			users[u.Username] = u
		}
		// Every user is one the tables below prove.
		if len(users) != len(natsUsers) {
			t.Errorf("%s: %d users, the tests know %d", node, len(users), len(natsUsers))
		}
		for _, name := range natsUsers {
			u, ok := users[name]
			if !ok {
				t.Errorf("%s: no user %s", node, name)
				continue
			}
			// The hash came from the environment, never from the file.
			if u.Password != os.Getenv(hashVar(name)) || !strings.HasPrefix(u.Password, "$2a$") {
				t.Errorf("%s: user %s's password is not the bcrypt hash of %s", node, name, hashVar(name))
			}
			if u.Account == nil || u.Account.Name != natsAccount(name) {
				t.Errorf("%s: user %s is not in account %s", node, name, natsAccount(name))
			}
		}
	}
}

// cluster is the three nodes, started from the deploy configs.
type cluster struct {
	servers []*server.Server
	urls    []string // client URLs
	// masterKeyFile is the deployment's master key, which every process
	// reads (JF_MASTER_KEY_FILE in deploy/systemd/env).
	masterKeyFile string
}

// startCluster starts the three nodes from deploy/nats, changing only what
// a test on one machine must: addresses and ports on the loopback
// interface, routes to those ports, a temporary store, no monitoring port.
// Accounts, users, permissions, JetStream and cluster settings are the
// files'.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{masterKeyFile: testenv.MasterKeyFile(t)}
	t.Cleanup(func() {
		for _, s := range c.servers {
			s.Shutdown()
			s.WaitForShutdown()
		}
	})
	// The routes name each other's ports, picked before the servers
	// start: another process may take one meanwhile, and then the cluster
	// starts again on others.
	testenv.RetryAddrInUse(t, 3, func(int) error {
		c.servers, c.urls = nil, nil
		ports := testenv.FreePorts(t, len(nodes))
		var routes []string
		for _, p := range ports {
			routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
		}
		for i, node := range nodes {
			opts, err := server.ProcessConfigFile(repo("deploy", "nats", node+".conf"))
			if err != nil {
				t.Fatal(err)
			}
			opts.Host, opts.Port = "127.0.0.1", -1
			opts.HTTPPort = 0
			opts.StoreDir = t.TempDir()
			opts.Cluster.Host, opts.Cluster.Port = "127.0.0.1", ports[i]
			opts.Routes = server.RoutesFromStr(strings.Join(routes, ","))
			opts.NoLog, opts.NoSigs = true, true
			s, err := testenv.StartServer(opts, 20*time.Second)
			if err != nil {
				for _, s := range c.servers {
					s.Shutdown()
					s.WaitForShutdown()
				}
				return fmt.Errorf("%s: %w", node, err)
			}
			c.servers = append(c.servers, s)
			c.urls = append(c.urls, s.ClientURL())
		}
		return nil
	})
	checkFor(t, 30*time.Second, func() error {
		leader := ""
		for _, s := range c.servers {
			if !s.JetStreamIsClustered() || !s.JetStreamIsCurrent() {
				return fmt.Errorf("%s: JetStream not clustered and current yet", s.Name())
			}
			if s.JetStreamIsLeader() {
				leader = s.Name()
			}
		}
		if leader == "" {
			return errors.New("no JetStream meta leader")
		}
		return nil
	})
	return c
}

// url is the cluster's client URL list with a user's credentials, the form
// JF_NATS_URL takes in deploy/ (every URL carries them).
func (c *cluster) url(user string) string {
	var us []string
	for _, u := range c.urls {
		us = append(us, strings.Replace(u, "nats://", "nats://"+user+":"+passwords[user]+"@", 1))
	}
	return strings.Join(us, ",")
}

// connect connects as user; violations of its permissions arrive on the
// returned channel.
func (c *cluster) connect(t *testing.T, user string) (*nats.Conn, <-chan error) {
	t.Helper()
	errs := make(chan error, 16)
	nc, err := nats.Connect(c.url(user), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case errs <- err:
		default:
		}
	}))
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	return nc, errs
}

// jetStreamAs is a JetStream context connected as user.
func (c *cluster) jetStreamAs(t *testing.T, user string) jetstream.JetStream {
	t.Helper()
	nc, _ := c.connect(t, user)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// runService runs a service's Run with cfg until the test ends, on the
// port it picks itself (127.0.0.1:0), and returns cfg with HTTPAddr where
// it listens: no other process can take that port first.
func runService(t *testing.T, name string, cfg config.Config, run func(context.Context, config.Config, *slog.Logger) error) config.Config {
	t.Helper()
	cfg.HTTPAddr = "127.0.0.1:0"
	log, urls := testenv.ListenLog()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		err := run(ctx, cfg, log)
		if err != nil && ctx.Err() == nil {
			t.Errorf("%s stopped: %v", name, err)
		}
		done <- err
	}()
	t.Cleanup(func() { cancel(); <-stopped })
	select {
	case u := <-urls:
		cfg.HTTPAddr = strings.TrimPrefix(u, "http://")
	case <-done:
		t.Fatalf("%s did not start", name)
	case <-time.After(time.Minute):
		t.Fatalf("%s did not listen within a minute", name)
	}
	return cfg
}

// ingestRun is the ingest process of dept.
func ingestRun(dept events.Department) func(context.Context, config.Config, *slog.Logger) error {
	return func(ctx context.Context, cfg config.Config, log *slog.Logger) error {
		return ingest.Run(ctx, cfg, []events.Department{dept}, log)
	}
}

// serviceConfig is a service's settings as user, on any free port
// (runService finds which).
func serviceConfig(t *testing.T, c *cluster, user string) config.Config {
	t.Helper()
	cfg := config.Defaults()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.NATSURL = c.url(user)
	cfg.Replicas = 3
	cfg.MasterKeyFile = c.masterKeyFile
	return cfg
}

func waitReady(t *testing.T, addr string) {
	t.Helper()
	checkFor(t, 30*time.Second, func() error {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s/readyz: %d %s", addr, resp.StatusCode, b)
		}
		return nil
	})
}

// TestClusterFromDeployConfigs starts the cluster as deployed and runs the
// services on it as the NATS users of the deployment: the streams come up
// at three replicas, the permissions are enough for ingest, projector and
// the access log, and they refuse what they must refuse.
func TestClusterFromDeployConfigs(t *testing.T) {
	t.Parallel()
	c := startCluster(t)

	// A service started before the setup step is not ready, and says why.
	early := runService(t, "sof before setup", serviceConfig(t, c, "sof"), ingestRun(events.SOF))
	checkFor(t, 20*time.Second, func() error {
		resp, err := http.Get("http://" + early.HTTPAddr + "/readyz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "setup-streams") {
			return fmt.Errorf("readyz before the setup step: %d %s", resp.StatusCode, b)
		}
		return nil
	})

	// The setup step, as deploy/README.md runs it: the admin user creates
	// the streams.
	setup := serviceConfig(t, c, "admin")
	var out bytes.Buffer
	if err := standalone.SetupStreams(context.Background(), setup, &out); err != nil {
		t.Fatalf("setup-streams as admin: %v", err)
	}
	t.Logf("setup-streams: %s", out.String())
	for _, user := range []string{"sof", "projector", "audit"} {
		if err := standalone.SetupStreams(context.Background(), serviceConfig(t, c, user), io.Discard); err == nil {
			t.Errorf("setup-streams as %s succeeded", user)
		}
	}
	waitReady(t, early.HTTPAddr)

	// Every user's rights, before the services run (the projector's
	// consumer is created and deleted by the table).
	users := map[string]*natsClient{}
	for _, u := range natsUsers {
		users[u] = dial(t, c.url(u))
	}
	t.Run("least privilege", func(t *testing.T) {
		checkTable(t, 3, deployConsumers, users, deployTable)
	})

	// One ingest process per department and the projector, each as its
	// own NATS user.
	deptCfg := map[events.Department]config.Config{}
	for _, d := range events.Departments {
		deptCfg[d] = runService(t, string(d), serviceConfig(t, c, string(d)), ingestRun(d))
	}
	projCfg := runService(t, "projector", serviceConfig(t, c, "projector"), projector.Run)
	sofCfg, bifCfg := deptCfg[events.SOF], deptCfg[events.BIF]
	waitReady(t, projCfg.HTTPAddr)
	for _, cfg := range deptCfg {
		waitReady(t, cfg.HTTPAddr)
	}

	admin, _ := c.connect(t, "admin")
	ajs, err := jetstream.New(admin)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, name := range []string{eventstore.FamilyStream, eventstore.AccessLogStream} {
		checkFor(t, 20*time.Second, func() error {
			s, err := ajs.Stream(ctx, name)
			if err != nil {
				return err
			}
			info, err := s.Info(ctx)
			if err != nil {
				return err
			}
			if info.Config.Replicas != 3 || info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != 2 {
				return fmt.Errorf("%s: %d replicas, cluster %+v", name, info.Config.Replicas, info.Cluster)
			}
			for _, r := range info.Cluster.Replicas {
				if !r.Current {
					return fmt.Errorf("%s: replica %s not current", name, r.Name)
				}
			}
			if !info.Config.DenyDelete || !info.Config.DenyPurge {
				return fmt.Errorf("%s: deletes or purges allowed", name)
			}
			return nil
		})
	}
	// The data keys' bucket, made by the same setup step: replicated like
	// the streams, history 1.
	checkFor(t, 20*time.Second, func() error {
		kv, err := ajs.KeyValue(ctx, eventstore.KeyBucket)
		if err != nil {
			return err
		}
		st, err := kv.Status(ctx)
		if err != nil {
			return err
		}
		info := st.(*jetstream.KeyValueBucketStatus).StreamInfo()
		if st.History() != 1 || info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
			return fmt.Errorf("%s: history %d, %d replicas, cluster %+v", eventstore.KeyBucket, st.History(), info.Config.Replicas, info.Cluster)
		}
		return nil
	})

	t.Run("department publishes only its own subjects", func(t *testing.T) {
		nc, errs := c.connect(t, "bif")
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		before := streamMsgs(t, ajs, eventstore.FamilyStream)

		// A SOF subject: the server refuses the publish.
		foreign := "families.F1.sof.family.referred"
		if err := nc.Publish(foreign, rawEvent(t, events.SOF, "F1", &events.FamilyReferred{Reason: "forsøg"})); err != nil {
			t.Fatal(err)
		}
		expectViolation(t, errs, foreign)
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err = js.Publish(pctx, foreign, rawEvent(t, events.SOF, "F1", &events.FamilyReferred{Reason: "forsøg"}))
		cancel()
		if err == nil {
			t.Fatalf("a JetStream publish to %s as bif was acknowledged", foreign)
		}
		expectViolation(t, errs, foreign)

		// Its own subject: stored.
		own := "families.F1.bif.praktik.started"
		ack, err := js.PublishMsg(ctx, &nats.Msg{Subject: own, Header: nats.Header{jetstream.MsgIDHeader: []string{"deploytest-bif-1"}},
			Data: rawEvent(t, events.BIF, "F1", &events.PraktikStarted{PraktikID: "PR1", PersonID: "P1", Employer: "12345678", HoursPerWeek: 10})})
		if err != nil {
			t.Fatalf("bif publishing %s: %v", own, err)
		}
		m, err := ajs.Stream(ctx, eventstore.FamilyStream)
		if err != nil {
			t.Fatal(err)
		}
		// The stream allows direct gets, which any replica answers: a
		// follower may not have applied the acknowledged message yet.
		checkFor(t, 5*time.Second, func() error {
			got, err := m.GetMsg(ctx, ack.Sequence)
			if err != nil {
				return fmt.Errorf("sequence %d: %w", ack.Sequence, err)
			}
			if got.Subject != own {
				return fmt.Errorf("sequence %d is on %s, want %s", ack.Sequence, got.Subject, own)
			}
			return nil
		})
		if after := streamMsgs(t, ajs, eventstore.FamilyStream); after != before+1 {
			t.Errorf("stream went from %d to %d messages, want one more", before, after)
		}

		// Nor may a department service delete the stream.
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		err = js.DeleteStream(dctx, eventstore.FamilyStream)
		cancel()
		if err == nil {
			t.Fatal("bif deleted FAMILY_EVENTS")
		}
		expectViolation(t, errs, "$JS.API.STREAM.DELETE."+eventstore.FamilyStream)
	})

	t.Run("department systems publish only their own subjects", func(t *testing.T) {
		// CONTRACT.md: a department system may publish directly, limited
		// to its families.*.<dept>.>. Its <dept>-system user, alone in its
		// department's account, gets the stream's acknowledgement through
		// the import, and nothing else: the least-privilege table and the
		// hostile corpus try the JetStream API as these users too.
		for i, d := range events.Departments {
			user := string(d) + "-system"
			nc, errs := c.connect(t, user)
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			own := events.Subject("FSYSTEM1", d, "meeting.held")
			msg := &nats.Msg{Subject: own, Header: nats.Header{jetstream.MsgIDHeader: []string{"deploytest-" + user + "-1"}},
				Data: rawEvent(t, d, "FSYSTEM1", &events.MeetingHeld{Kind: "network"})}
			ack, err := js.PublishMsg(ctx, msg)
			if err != nil || ack.Stream != eventstore.FamilyStream || ack.Duplicate {
				t.Fatalf("%s publishing %s: %+v, %v", user, own, ack, err)
			}
			// The headers cross the import: the event id deduplicates.
			again, err := js.PublishMsg(ctx, msg)
			if err != nil || !again.Duplicate || again.Sequence != ack.Sequence {
				t.Fatalf("%s publishing %s again: %+v, %v", user, own, again, err)
			}
			checkFor(t, 5*time.Second, func() error {
				s, err := ajs.Stream(ctx, eventstore.FamilyStream)
				if err != nil {
					return err
				}
				got, err := s.GetMsg(ctx, ack.Sequence)
				if err != nil {
					return err
				}
				if got.Subject != own {
					return fmt.Errorf("sequence %d is on %s, want %s", ack.Sequence, got.Subject, own)
				}
				return nil
			})

			// Another department's subject: refused, never acknowledged.
			other := events.Departments[(i+1)%len(events.Departments)]
			foreign := events.Subject("FSYSTEM1", other, "meeting.held")
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			_, err = js.Publish(pctx, foreign, rawEvent(t, other, "FSYSTEM1", &events.MeetingHeld{Kind: "network"}))
			cancel()
			if err == nil {
				t.Fatalf("%s's publish to %s was acknowledged", user, foreign)
			}
			expectViolation(t, errs, foreign)

			// No stream information: the JetStream API is refused (the
			// least-privilege table tries every subject of it).
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			_, err = js.Stream(sctx, eventstore.FamilyStream)
			cancel()
			if err == nil {
				t.Fatalf("%s read the stream information", user)
			}
			expectViolation(t, errs, "$JS.API.STREAM.INFO."+eventstore.FamilyStream)
		}
	})

	t.Run("department systems see no other replies and redirect no acks", func(t *testing.T) {
		nc, errs := c.connect(t, "sof-system")
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		// The services' consumers pull the events onto their _INBOX
		// subjects. The system's _INBOX.> is its own account's: it
		// receives none of them, nor any other user's reply.
		spy, err := nc.SubscribeSync("_INBOX.>")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nc.SubscribeSync(">"); err != nil {
			t.Fatal(err)
		}
		expectViolation(t, errs, ">")
		bif, _ := c.connect(t, "bif")
		bjs, err := jetstream.New(bif)
		if err != nil {
			t.Fatal(err)
		}
		seen := events.Subject("FSYSTEM2", events.BIF, "meeting.held")
		if _, err := bjs.Publish(ctx, seen, rawEvent(t, events.BIF, "FSYSTEM2", &events.MeetingHeld{Kind: "network"})); err != nil {
			t.Fatal(err)
		}
		oc, err := bjs.OrderedConsumer(ctx, eventstore.FamilyStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{seen}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := oc.Next(jetstream.FetchMaxWait(5 * time.Second)); err != nil {
			t.Fatalf("bif reading %s: %v", seen, err)
		}
		if m, err := spy.NextMsg(time.Second); err == nil {
			t.Fatalf("sof-system received %s on %s: %.80s", m.Subject, m.Sub.Subject, m.Data)
		}

		// A publish names where its acknowledgement goes. Across the
		// import the server replaces that reply subject, so naming
		// another department's subject, the access log or a data key
		// stores nothing there.
		fam := "FSYSTEM3"
		before := streamMsgs(t, ajs, eventstore.FamilyStream)
		accessBefore := streamMsgs(t, ajs, eventstore.AccessLogStream)
		keysBefore := streamMsgs(t, ajs, eventstore.KeyStream)
		own := events.Subject(fam, events.SOF, "meeting.held")
		redirects := []string{events.Subject(fam, events.BIF, "meeting.held"), "access." + fam, "$KV." + eventstore.KeyBucket + "." + fam + ".0"}
		for _, reply := range redirects {
			if err := nc.PublishMsg(&nats.Msg{Subject: own, Reply: reply,
				Header: nats.Header{jetstream.MsgIDHeader: []string{"deploytest-redirect-" + reply}},
				Data:   rawEvent(t, events.SOF, fam, &events.MeetingHeld{Kind: "network"})}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := js.Publish(ctx, own, rawEvent(t, events.SOF, fam, &events.MeetingHeld{Kind: "network"})); err != nil {
			t.Fatal(err)
		}
		// The acknowledgements, had they gone there, would be stored
		// right after the publishes: give them a second.
		time.Sleep(time.Second)
		if after := streamMsgs(t, ajs, eventstore.FamilyStream); after != before+uint64(len(redirects))+1 {
			t.Errorf("%s went from %d to %d messages, want the %d publishes only", eventstore.FamilyStream, before, after, len(redirects)+1)
		}
		if after := streamMsgs(t, ajs, eventstore.AccessLogStream); after != accessBefore {
			t.Errorf("%s went from %d to %d messages", eventstore.AccessLogStream, accessBefore, after)
		}
		if after := streamMsgs(t, ajs, eventstore.KeyStream); after != keysBefore {
			t.Errorf("%s went from %d to %d messages", eventstore.KeyStream, keysBefore, after)
		}
		stored, err := ajs.Stream(ctx, eventstore.FamilyStream)
		if err != nil {
			t.Fatal(err)
		}
		if m, err := stored.GetLastMsgForSubject(ctx, redirects[0]); err == nil {
			t.Errorf("%s holds %s", redirects[0], m.Data)
		}
	})

	t.Run("projector and audit write no family events", func(t *testing.T) {
		for _, user := range []string{"projector", "audit", "admin"} {
			nc, errs := c.connect(t, user)
			subj := "families.F1.sof.family.referred"
			if err := nc.Publish(subj, rawEvent(t, events.SOF, "F1", &events.FamilyReferred{Reason: "forsøg"})); err != nil {
				t.Fatal(err)
			}
			expectViolation(t, errs, subj)
		}
		// The audit user records auditors' reads in the access log, and
		// nothing outside it.
		nc, errs := c.connect(t, "audit")
		if err := nc.Publish("access.other.subject.x", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		expectViolation(t, errs, "access.other.subject.x")
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		for _, subj := range []string{"access.F1", "access.bulk.audit"} {
			if _, err := js.Publish(context.Background(), subj, []byte(`{"kind":"auditor"}`)); err != nil {
				t.Fatalf("audit user writing %s: %v", subj, err)
			}
		}
	})

	t.Run("services work as their users", func(t *testing.T) {
		fam := "FDEPLOY1"
		post := func(cfg config.Config, dept events.Department, evs ...[]byte) uint64 {
			t.Helper()
			body := append(append([]byte("["), bytes.Join(evs, []byte(","))...), ']')
			var r struct {
				Position uint64
				Rule     string
			}
			// A 409 "concurrency" asks the client to send again: this
			// ingest may not have seen the other department's write to
			// the family yet.
			checkFor(t, 10*time.Second, func() error {
				req, err := http.NewRequest("POST", "http://"+cfg.HTTPAddr+"/departments/"+string(dept)+"/v1/events", bytes.NewReader(body))
				if err != nil {
					return err
				}
				req.Header.Set("Authorization", "Bearer dev-"+string(dept))
				req.Header.Set("Content-Type", "application/cloudevents-batch+json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				r.Rule = ""
				_ = json.Unmarshal(b, &r)
				switch {
				case resp.StatusCode == http.StatusCreated:
					return nil
				case resp.StatusCode == http.StatusConflict && r.Rule == "concurrency":
					return fmt.Errorf("%s ingest: %d %s", dept, resp.StatusCode, b)
				}
				t.Fatalf("%s ingest: %d %s", dept, resp.StatusCode, b)
				return nil
			})
			return r.Position
		}
		// The referral's reason is personal: sof's ingest encrypts it
		// with the family's new data key, and the projector, reading
		// that key with the shared master key, shows it.
		const reason = "Henvist af deploytest"
		post(sofCfg, events.SOF,
			rawEvent(t, events.SOF, fam, &events.FamilyReferred{Reason: reason}),
			rawEvent(t, events.SOF, fam, &events.FamilyEnrolled{
				Members:        []events.Member{{PersonID: "P1", Role: "parent"}, {PersonID: "C1", Role: "child"}},
				CourseStart:    "2024-01-15",
				ChildCaseIDs:   []string{"CASE1"},
				ParentBenefits: []events.ParentBenefit{{PersonID: "P1", Benefit: "kontanthjaelp"}},
			}),
			rawEvent(t, events.SOF, fam, &events.CaseworkerAssigned{EmployeeID: "E1001"}))
		pos := post(bifCfg, events.BIF, rawEvent(t, events.BIF, fam,
			&events.PraktikStarted{PraktikID: "PR9", PersonID: "P1", Employer: "12345678", HoursPerWeek: 12}))

		// The family's own access subject: earlier subtests wrote other
		// entries to ACCESS_LOG, so only this one's count says whether
		// the read below was logged.
		accessBefore := subjectMsgs(t, ajs, eventstore.AccessLogStream, accesslog.Subject(fam))
		req, err := http.NewRequest("GET", "http://"+projCfg.HTTPAddr+"/v1/families/"+fam+"/timeline", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer dev-coordinator")
		req.Header.Set("X-Min-Position", strconv.FormatUint(pos, 10))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("timeline: %d %s", resp.StatusCode, b)
		}
		var tl struct{ Entries []json.RawMessage }
		if err := json.Unmarshal(b, &tl); err != nil || len(tl.Entries) != 4 {
			t.Fatalf("timeline of %s has %d entries (%v), want 4: %s", fam, len(tl.Entries), err, b)
		}
		if !bytes.Contains(b, []byte(reason)) {
			t.Errorf("the timeline does not show the decrypted reason: %s", b)
		}
		kv, err := ajs.KeyValue(ctx, eventstore.KeyBucket)
		if err != nil {
			t.Fatal(err)
		}
		// Direct gets, answered by any replica, may lag: retried.
		checkFor(t, 5*time.Second, func() error {
			if _, err := kv.Get(ctx, fam+".0"); err != nil {
				return fmt.Errorf("the data key of %s: %w", fam, err)
			}
			return nil
		})
		stored, err := ajs.Stream(ctx, eventstore.FamilyStream)
		if err != nil {
			t.Fatal(err)
		}
		var referral *jetstream.RawStreamMsg
		checkFor(t, 5*time.Second, func() error {
			referral, err = stored.GetLastMsgForSubject(ctx, events.Subject(fam, events.SOF, "family.referred"))
			return err
		})
		if bytes.Contains(referral.Data, []byte(reason)) {
			t.Error("the stored referral holds its reason in the clear")
		}
		// The read was logged through the projector's NATS user, once
		// (acknowledged before the answer, so the stream holds it now).
		if after := subjectMsgs(t, ajs, eventstore.AccessLogStream, accesslog.Subject(fam)); after != accessBefore+1 {
			t.Errorf("the coordinator's read took %s from %d to %d entries, want one more", accesslog.Subject(fam), accessBefore, after)
		}
	})

	t.Run("audit erases as the audit user", func(t *testing.T) {
		// The split deployment's erasure: audit serve, as its NATS user,
		// records family.erased and destroys the family's data key; the
		// family written above (its referral's reason encrypted) is the
		// one erased.
		fam := "FDEPLOY1"
		auditCfg := runService(t, "audit", serviceConfig(t, c, "audit"), audit.Run)
		waitReady(t, auditCfg.HTTPAddr)
		// The index of the access log that audit serve and the
		// projector keep follows ACCESS_LOG as each one's NATS user.
		for _, addr := range []string{auditCfg.HTTPAddr, projCfg.HTTPAddr} {
			checkFor(t, 10*time.Second, func() error {
				st, err := ajs.Stream(ctx, eventstore.AccessLogStream)
				if err != nil {
					return err
				}
				want := fmt.Sprintf("jf_access_index_position %d\n", st.CachedInfo().State.LastSeq)
				resp, err := http.Get("http://" + addr + "/metrics")
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				if b, _ := io.ReadAll(resp.Body); want == "jf_access_index_position 0\n" || !bytes.Contains(b, []byte(want)) {
					return fmt.Errorf("%s: no %q in the metrics", addr, want)
				}
				return nil
			})
		}
		kv, err := ajs.KeyValue(ctx, eventstore.KeyBucket)
		if err != nil {
			t.Fatal(err)
		}
		checkFor(t, 5*time.Second, func() error {
			_, err := kv.Get(ctx, shred.KeyID(fam))
			return err
		})
		// The keys are written once: an ingest user, which may create
		// keys on any family's key subject, cannot replace one.
		snc, _ := c.connect(t, "sof")
		sjs, err := jetstream.New(snc)
		if err != nil {
			t.Fatal(err)
		}
		skv, err := sjs.KeyValue(ctx, eventstore.KeyBucket)
		if err != nil {
			t.Fatal(err)
		}
		key, err := kv.Get(ctx, shred.KeyID(fam))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := skv.Put(ctx, shred.KeyID(fam), []byte("v1:replaced")); err == nil {
			t.Fatal("the sof user replaced a family's data key")
		}
		if err := skv.Delete(ctx, shred.KeyID(fam)); err == nil {
			t.Fatal("the sof user marked a family's data key deleted")
		}
		if now, err := kv.Get(ctx, shred.KeyID(fam)); err != nil || now.Revision() != key.Revision() || !bytes.Equal(now.Value(), key.Value()) {
			t.Fatalf("the data key after the refused writes: %v", err)
		}
		erase := func() (int, []byte) {
			req, err := http.NewRequest("POST", "http://"+auditCfg.HTTPAddr+"/v1/privacy/families/"+fam+"/erase",
				strings.NewReader(`{"reason":"Anmodning efter GDPR art. 17"}`))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer dev-dpo")
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, b
		}
		code, b := erase()
		var r struct {
			Sequence     uint64
			Recorded     bool
			KeyDestroyed bool
		}
		if err := json.Unmarshal(b, &r); code != http.StatusCreated || err != nil || !r.Recorded || !r.KeyDestroyed || r.Sequence == 0 {
			t.Fatalf("erase as dpo on audit: %d %s", code, b)
		}
		checkFor(t, 5*time.Second, func() error {
			if _, err := kv.Get(ctx, shred.KeyID(fam)); !errors.Is(err, jetstream.ErrKeyNotFound) {
				return fmt.Errorf("the data key of %s after erasure: %v", fam, err)
			}
			return nil
		})
		stored, err := ajs.Stream(ctx, eventstore.FamilyStream)
		if err != nil {
			t.Fatal(err)
		}
		checkFor(t, 5*time.Second, func() error {
			m, err := stored.GetLastMsgForSubject(ctx, shred.ErasedSubject(fam))
			if err != nil {
				return err
			}
			if m.Sequence != r.Sequence {
				return fmt.Errorf("family.erased at %d, the answer said %d", m.Sequence, r.Sequence)
			}
			return nil
		})
		// Repeating is safe: the same record, nothing new.
		if code, b := erase(); code != http.StatusOK {
			t.Errorf("erasing again: %d %s", code, b)
		}
	})

	t.Run("hostile", func(t *testing.T) {
		clients := map[string]*natsClient{"anonymous": dial(t, strings.Join(c.urls, ","), nats.MaxReconnects(0))}
		if clients["anonymous"].nc != nil {
			t.Fatal("the cluster accepted an anonymous client")
		}
		for u, cl := range users {
			clients[u] = cl
		}
		checkFor(t, 20*time.Second, func() error {
			_, err := ajs.Consumer(ctx, eventstore.FamilyStream, "projector")
			return err
		})
		before := streamStates(t, ajs)
		added := runHostile(t, "deploy", 3, clients)
		checkIntact(t, ajs, before, added)
		// The projector made its consumer again and goes on.
		waitReady(t, projCfg.HTTPAddr)
	})

	t.Run("demo loads into one process per department", func(t *testing.T) {
		before := streamMsgs(t, ajs, eventstore.FamilyStream)
		urls := map[events.Department]string{}
		for d, cfg := range deptCfg {
			urls[d] = "http://" + cfg.HTTPAddr
		}
		lctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		st, err := demo.Load(lctx, demo.Options{DepartmentURLs: urls, Seed: 3, Families: 3})
		if err != nil {
			t.Fatal(err)
		}
		// Each ingest process checks against its own view of the stream,
		// which lags the other departments' writes: see demo's errStale.
		t.Logf("demo: %d events in %d requests, %d retried", st.Events, st.Requests, st.Retries)
		if st.Duplicates != 0 || streamMsgs(t, ajs, eventstore.FamilyStream) != before+uint64(st.Events) {
			t.Fatalf("demo stored %d of %d events; the stream grew from %d to %d",
				st.Stored(), st.Events, before, streamMsgs(t, ajs, eventstore.FamilyStream))
		}
	})
}

var eventSeq struct {
	sync.Mutex
	n int
}

// rawEvent is a valid structured CloudEvent with a fresh id.
func rawEvent(t *testing.T, dept events.Department, fam string, data events.Payload) []byte {
	t.Helper()
	eventSeq.Lock()
	eventSeq.n++
	id := fmt.Sprintf("deploytest-%s-%d", dept, eventSeq.n)
	eventSeq.Unlock()
	ce, err := events.Build(dept, fam, data, events.WithID(id), events.WithTime(time.Date(2024, 2, 1, 9, 0, 0, 0, time.UTC)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := events.Marshal(ce)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// expectViolation waits for the server's permissions violation naming subj.
func expectViolation(t *testing.T, errs <-chan error, subj string) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case err := <-errs:
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), `"`+subj+`"`) {
				return
			}
		case <-timeout:
			t.Fatalf("no permissions violation for %s", subj)
		}
	}
}

func streamMsgs(t *testing.T, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// subjectMsgs is the number of messages on one subject of a stream.
func subjectMsgs(t *testing.T, js jetstream.JetStream, name, subject string) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background(), jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[subject]
}
