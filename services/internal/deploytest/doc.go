// Package deploytest exercises the deployment files in deploy/ with the
// real code: it starts the three-node NATS cluster from deploy/nats with
// the users and permissions written there, runs the services against it as
// those users, and checks that the container, compose and systemd files
// agree with the Makefile, and that the image's entrypoint dispatches. It holds tests only; `make deploy-check` adds
// the checks that need tools of the machine (systemd-analyze, docker
// compose).
package deploytest
