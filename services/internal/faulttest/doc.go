// Package faulttest attacks the real standalone process: kill -9 and
// SIGTERM under load, with clients that retry with the same event ids, and
// checks afterwards that nothing acknowledged was lost or duplicated.
package faulttest
