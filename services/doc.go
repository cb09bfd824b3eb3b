// Package services holds the Job og Familie processes: the four department
// ingest services, the projector with the coordinator API, the audit service
// and the standalone that runs them all with an embedded NATS server.
package services
