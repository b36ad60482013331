//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"time"
)

// watchdog prints where the program is stuck when a step takes longer than its limit: the
// Go stacks, and the kernel stacks of the program's threads and of the xenbus and xenwatch
// kernel threads, which is how a deadlock in the kernel's xenbus driver shows (a thread in
// state D in xs_talkv, the xenbus thread in xenbus_dev_queue_reply).
type watchdog struct {
	mu     sync.Mutex
	step   string
	since  time.Time
	dumped bool
	armed  bool
}

// startWatchdog starts a watchdog that checks every second.
func startWatchdog(limit time.Duration) *watchdog {
	w := &watchdog{since: time.Now(), step: "start", armed: true}
	go func() {
		for range time.Tick(time.Second) {
			w.mu.Lock()
			late := w.armed && !w.dumped && time.Since(w.since) > limit
			if late {
				w.dumped = true
			}
			step := w.step
			w.mu.Unlock()
			if late {
				dumpStacks(step, limit)
			}
		}
	}()
	return w
}

// enter says the program began step.
func (w *watchdog) enter(step string) {
	w.mu.Lock()
	w.step, w.since, w.dumped = step, time.Now(), false
	w.mu.Unlock()
}

// disarm stops the checks: the program is serving, and dom0 judges it from outside.
func (w *watchdog) disarm() {
	w.mu.Lock()
	w.armed = false
	w.mu.Unlock()
}

// dumpStacks prints the Go and kernel stacks.
func dumpStacks(step string, limit time.Duration) {
	report("HANG in step %q for more than %v; stacks follow", step, limit)
	pprof.Lookup("goroutine").WriteTo(os.Stdout, 1)
	tasks, _ := filepath.Glob("/proc/self/task/*")
	for _, t := range tasks {
		printTask(t)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		comm, _ := os.ReadFile(p + "/comm")
		if c := strings.TrimSpace(string(comm)); c == "xenbus" || c == "xenwatch" {
			printTask(p)
		}
	}
	report("end of stacks")
}

// printTask prints a thread's state, wait channel and kernel stack.
func printTask(dir string) {
	stat, _ := os.ReadFile(dir + "/stat")
	wchan, _ := os.ReadFile(dir + "/wchan")
	stack, _ := os.ReadFile(dir + "/stack")
	state := "?"
	if f := strings.Fields(string(stat)); len(f) > 2 {
		state = f[2]
	}
	fmt.Printf("task %s state=%s wchan=%s\n%s", dir, state, wchan, stack)
}
