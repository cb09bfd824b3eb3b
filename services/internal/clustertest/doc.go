// Package clustertest runs the whole system against a three-node NATS
// cluster in one test process, with the streams at R3, and takes nodes
// away under load.
package clustertest
