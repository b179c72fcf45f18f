package store

import "time"

// GroupLimits sets the bounds of a SQLite batch, so a test can hold one open.
func (db *DB) GroupLimits(requests int, age time.Duration) {
	db.group.maxRequests, db.group.maxAge = requests, age
}

// GroupCommits is how many batches the SQLite writer committed.
func (db *DB) GroupCommits() int64 { return db.GroupStats().Commits }

// GroupWaiting is how many Write calls wait for their turn.
func (db *DB) GroupWaiting() int {
	db.group.mu.Lock()
	defer db.group.mu.Unlock()
	return db.group.waiting
}

// LockIDs are the advisory lock ids of keys.
func LockIDs(keys ...string) []int64 { return lockIDs(keys) }
