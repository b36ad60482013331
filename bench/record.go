package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"time"
)

// recordFile is the name of the record in the results directory.
const recordFile = "run.json"

// record is what a bench run leaves in run.json beside raw.txt: where, when, from which
// commit and with which tools it ran, and how each run ended. With raw.txt, which holds every
// run's output, it is all -render needs to write results.md, the charts and the README's block
// again without measuring anything.
type record struct {
	Command   string `json:"command"`
	Quick     bool   `json:"quick"`
	Date      string `json:"date"`
	Elapsed   string `json:"elapsed"`
	LoadStart string `json:"load_start"`
	LoadEnd   string `json:"load_end"`

	NProc  int    `json:"nproc"`
	Model  string `json:"model"`
	Memory string `json:"memory"`
	Kernel string `json:"kernel"`
	Go     string `json:"go"`

	// Commit is the repository's HEAD when the run began, "" if not recorded; Modified lists
	// the files that differed from it then, tracked (git diff --name-only HEAD) or new and
	// not ignored: the figures are of the tree with those changes.
	Commit   string   `json:"commit"`
	Modified []string `json:"modified,omitempty"`
	// Tools are the versions of the anchors and clients the rows use.
	Tools []toolVersion `json:"tools"`
	// Provenance explains what is missing from the above, for a run that did not record it.
	Provenance string `json:"provenance,omitempty"`

	Root    bool     `json:"root"`
	Missing []string `json:"missing,omitempty"` // tools not installed, with how to install them
	CPU     string   `json:"cpu"`               // -cpu
	CPUs    string   `json:"cpus"`              // -cpus

	Runs []runRecord `json:"runs"`
}

// runRecord is how one run ended; its results are in raw.txt.
type runRecord struct {
	ID       string `json:"id"`
	Cmd      string `json:"cmd,omitempty"`
	Skipped  string `json:"skipped,omitempty"`
	Err      string `json:"err,omitempty"`
	Subset   bool   `json:"subset,omitempty"`
	Duration string `json:"duration,omitempty"`
}

// toolVersion is one program's version, as the program or its package reports it.
type toolVersion struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// newRecord describes this machine, the repository at root and the tools now.
func newRecord(root string) *record {
	rec := &record{NProc: runtime.NumCPU(), Date: time.Now().UTC().Format("2006-01-02 15:04 MST"), LoadStart: loadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				rec.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		rec.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.TrimPrefix(strings.SplitN(string(b), "\n", 2)[0], "MemTotal:"), "%d", &kb)
		rec.Memory = fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
	}
	rec.Go = probe("go", "env", "GOVERSION")
	rec.Commit = probe("git", "-C", root, "rev-parse", "HEAD")
	if rec.Commit != "" {
		if changed := probe("git", "-C", root, "diff", "--name-only", "HEAD"); changed != "" {
			rec.Modified = strings.Split(changed, "\n")
		}
		if added := probe("git", "-C", root, "ls-files", "--others", "--exclude-standard"); added != "" {
			for _, f := range strings.Split(added, "\n") {
				rec.Modified = append(rec.Modified, f+" (new)")
			}
		}
	} else {
		rec.Provenance = "not a git checkout (or git is missing): the commit is not recorded"
	}
	for _, v := range versionProbes {
		rec.Tools = append(rec.Tools, toolVersion{v.name, v.version()})
	}
	return rec
}

// versionProbe says how to ask one program its version.
type versionProbe struct {
	name string   // the program as the header names it
	args []string // the command that prints its version; nil for a Debian package's version
	pick *regexp.Regexp
}

// versionProbes are the programs the rows compare against or load with. dpdk-testpmd has no
// version option that does not start DPDK, so its Debian package's version stands for it.
var versionProbes = []versionProbe{
	{"nginx", []string{"nginx", "-v"}, regexp.MustCompile(`nginx/(\S+)`)},
	{"wrk", []string{"wrk", "-v"}, regexp.MustCompile(`(?m)^wrk (\S+)`)},
	{"h2load", []string{"h2load", "--version"}, regexp.MustCompile(`nghttp2/(\S+)`)},
	{"iperf3", []string{"iperf3", "--version"}, regexp.MustCompile(`(?m)^iperf (\S+)`)},
	{"dpdk-testpmd", nil, nil},
}

// version is the program's version, "not installed", or "unknown" when it printed none.
func (v versionProbe) version() string {
	path, err := exec.LookPath(v.name)
	if err != nil {
		return "not installed"
	}
	if v.args == nil {
		// The Debian package that installed the program, and its version.
		owner := probe("dpkg-query", "-S", path)
		pkg, _, ok := strings.Cut(owner, ":")
		if !ok {
			return "unknown"
		}
		if ver := probe("dpkg-query", "-W", "-f", "${Version}", pkg); ver != "" {
			return ver + " (Debian package " + pkg + ")"
		}
		return "unknown"
	}
	// wrk -v exits 1 after its version, nginx -v prints it on stderr: read both, whatever
	// the exit status.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, path, v.args[1:]...).CombinedOutput()
	if m := v.pick.FindSubmatch(out); m != nil {
		return string(m[1])
	}
	return "unknown"
}

// probe runs a command that answers at once and returns its trimmed standard output, or ""
// if it failed.
func probe(name string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func (rec *record) summary() string {
	return fmt.Sprintf("%d CPUs (%s), %s RAM, %s, %s", rec.NProc, rec.Model, rec.Memory, rec.Kernel, rec.Go)
}

// commitLine says which tree the figures are from.
func (rec *record) commitLine() string {
	if rec.Commit == "" {
		return "not recorded"
	}
	s := "`" + rec.Commit + "`"
	switch n := len(rec.Modified); {
	case n == 0:
		return s + ", no uncommitted changes"
	case n <= 8:
		return s + " with uncommitted changes to " + strings.Join(rec.Modified, ", ")
	default:
		return fmt.Sprintf("%s with uncommitted changes to %d files: %s, …", s, n, strings.Join(rec.Modified[:8], ", "))
	}
}

// toolsLine lists the tools' versions, or says they were not recorded.
func (rec *record) toolsLine() string {
	if len(rec.Tools) == 0 {
		return "not recorded"
	}
	var parts []string
	for _, t := range rec.Tools {
		parts = append(parts, t.Name+" "+t.Version)
	}
	return strings.Join(parts, ", ")
}

func writeRecord(path string, rec *record) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // commands hold < > & as they are
	enc.SetIndent("", "\t")
	if err := enc.Encode(rec); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func readRecord(path string) (*record, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	rec := &record{}
	if err := json.Unmarshal(b, rec); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rec, nil
}
