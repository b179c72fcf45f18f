//go:build !unix

package app

import "os"

// LockFile is the file in the data directory that serve holds an exclusive
// lock on while it runs (on Unix; elsewhere the directory is not locked).
const LockFile = "concord.lock"

// lockDataDir does not lock on systems without flock; the release builds
// are for Linux and macOS.
func lockDataDir(string) (*os.File, error) { return nil, nil }
