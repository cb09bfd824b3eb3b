package readmodel

import (
	"context"
	"database/sql"
	"time"
)

// FollowQuickScrub is Follow with IdleScrubEvery shortened to idle and the
// erasure batch's wait for readers to wait.
func FollowQuickScrub(ctx context.Context, o FollowerOptions, idle, wait time.Duration) (*Follower, error) {
	o.idleScrub, o.scrubWait = idle, wait
	return Follow(ctx, o)
}

// FollowHooked is Follow with before called before each batch is applied.
func FollowHooked(ctx context.Context, o FollowerOptions, before func()) (*Follower, error) {
	o.beforeApply = before
	return Follow(ctx, o)
}

// FollowerScrubPending is the follower model's ScrubPending, asked as the
// applier.
func FollowerScrubPending(f *Follower) bool {
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	return f.m.ScrubPending()
}

// PinSnapshot holds a read snapshot of the model file at path on a
// connection of its own, as a verify does, until release.
func PinSnapshot(ctx context.Context, path string) (release func(), err error) {
	db, err := sql.Open("sqlite", dsn(path, scanConn))
	if err != nil {
		return nil, err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err == nil {
		var n int
		err = tx.QueryRowContext(ctx, `SELECT count(*) FROM timeline`).Scan(&n)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return func() { _ = tx.Rollback(); db.Close() }, nil
}

// FollowerVacuums is the follower model's Vacuums, asked as the applier.
func FollowerVacuums(f *Follower) int {
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	return f.m.Vacuums()
}

// FollowerStates is how many folded family states the follower's model
// holds.
func FollowerStates(f *Follower) int {
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	return f.m.States()
}

// FollowerFamilyEvents is the events count of the family's overview row
// in the follower's model.
func FollowerFamilyEvents(ctx context.Context, f *Follower, fam string) (int, error) {
	var n int
	err := f.m.w.QueryRowContext(ctx, `SELECT events FROM families WHERE family_id = ?`, fam).Scan(&n)
	return n, err
}
