//go:build unix

package app_test

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time (user and system) this process has used, which a
// benchmark divides by its work: unlike a rate, it hardly moves when other
// processes load the machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
