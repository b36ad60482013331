package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/unikit/unikit/bench/internal/gobench"
)

// tools are the programs rows may need, with the Debian package that installs each.
var tools = []struct{ name, pkg, use string }{
	{"taskset", "util-linux", "pinning to cores"},
	{"wrk", "wrk", "HTTP/1.1 client for httpserve, the blog and HTTP4K"},
	{"h2load", "nghttp2-client", "HTTP/2 client for httpserve"},
	{"nginx", "nginx-light", "anchor for httpserve"},
	{"iperf3", "iperf3", "veth anchor, iperf3 variant"},
	{"dpdk-testpmd", "dpdk", "vhost-user backend and DPDK virtio-user anchor"},
}

// outcome is what one run produced.
type outcome struct {
	run      run
	cmd      string
	skipped  string // why the run did not run, if it did not
	err      string
	subset   bool // ran only the run's quickBench subset (-quick)
	results  []gobench.Result
	skips    []gobench.Skip
	duration time.Duration
}

func main() {
	quick := flag.Bool("quick", false, "fewer rows, counts and shorter benchtimes (under two minutes)")
	cpu := flag.String("cpu", "", "CPU list (taskset -c) for single-process micro-benchmarks (default: the last CPU)")
	cpus := flag.String("cpus", "", "CPU list for benchmarks that run their client and server as children (default: CPUs 0-1)")
	only := flag.String("only", "", "comma-separated run ids to run (default: all); ids: "+runIDs())
	png := flag.Bool("png", false, "also write the chart as results.png")
	out := flag.String("o", "bench/results", "directory for results.md, results.svg and raw.txt")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("bench: ")

	root, err := libraryRoot()
	if err != nil {
		log.Fatal(err)
	}
	n := runtime.NumCPU()
	if *cpu == "" {
		*cpu = fmt.Sprint(n - 1)
	}
	if *cpus == "" {
		*cpus = fmt.Sprintf("0-%d", min(n, 2)-1)
	}
	m := machineInfo()
	m.command = strings.Join(append([]string{"go run ./bench"}, os.Args[1:]...), " ")
	log.Printf("%s; load average %s", m.summary(), m.loadStart)

	have := map[string]bool{}
	var missing []string
	for _, t := range tools {
		if _, err := exec.LookPath(t.name); err == nil {
			have[t.name] = true
		} else {
			missing = append(missing, fmt.Sprintf("%s (%s): DEBIAN_FRONTEND=noninteractive apt-get install -y %s", t.name, t.use, t.pkg))
		}
	}
	for _, s := range missing {
		log.Printf("missing %s", s)
	}
	isRoot := os.Geteuid() == 0
	if !isRoot {
		log.Printf("not root: the TAP, veth and HTTP4K rows are skipped (they create network namespaces)")
	}

	want := map[string]bool{}
	for _, id := range strings.Split(*only, ",") {
		if id != "" {
			want[id] = true
		}
	}
	var raw bytes.Buffer
	outcomes := map[string]*outcome{}
	var order []*outcome
	began := time.Now()
	for _, r := range runs {
		s := r.full
		if *quick {
			s = r.quick
		}
		o := &outcome{run: r}
		outcomes[r.id] = o
		order = append(order, o)
		switch {
		case len(want) > 0 && !want[r.id]:
			o.skipped = "not selected (-only)"
		case s.count == 0:
			o.skipped = "not run in -quick mode"
		case r.root && !isRoot:
			o.skipped = "needs root"
		case r.pin != pinSelf && !have["taskset"]:
			o.skipped = "needs taskset (util-linux)"
		}
		for _, t := range r.tools {
			if o.skipped == "" && !have[t] {
				o.skipped = "needs " + t + " (" + pkgOf(t) + ")"
			}
		}
		if o.skipped != "" {
			log.Printf("%-9s skipped: %s", r.id, o.skipped)
			continue
		}
		if r.measure != nil {
			o.cmd = r.cmd
			log.Printf("%-9s %s", r.id, o.cmd)
			t0 := time.Now()
			res, err := r.measure(root)
			o.duration = time.Since(t0).Round(100 * time.Millisecond)
			o.results = res
			fmt.Fprintf(&raw, "## %s (%s)\n$ %s\n", r.id, o.duration, o.cmd)
			for _, x := range res {
				fmt.Fprintf(&raw, "%s %v\n", x.Name, x.Metrics)
			}
			if err != nil {
				o.err = lastLines(err.Error(), 3)
				fmt.Fprintf(&raw, "%v\n", err)
				log.Printf("%-9s failed after %s: %v", r.id, o.duration, err)
			} else {
				log.Printf("%-9s %d results in %s", r.id, len(o.results), o.duration)
			}
			fmt.Fprintln(&raw)
			continue
		}
		bench := r.bench
		if *quick && r.quickBench != "" {
			bench, o.subset = r.quickBench, true
		}
		args := []string{"test", "-run", "^$", "-bench", bench, "-benchtime", s.benchtime,
			"-count", fmt.Sprint(s.count), "-timeout", "20m"}
		switch r.pin {
		case pinOne:
			args = append(args, "-exec", "taskset -c "+*cpu)
		case pinPair:
			args = append(args, "-exec", "taskset -c "+*cpus)
		case pinDriver:
			args = append(args, "-exec", "taskset -c 0")
		}
		args = append(args, r.pkg)
		var env []string
		if r.env != nil {
			env = r.env(*quick)
		}
		o.cmd = strings.TrimSpace(strings.Join(env, " ") + " go " + shellJoin(args))
		log.Printf("%-9s %s", r.id, o.cmd)
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), env...)
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		t0 := time.Now()
		err := cmd.Run()
		o.duration = time.Since(t0).Round(100 * time.Millisecond)
		fmt.Fprintf(&raw, "## %s (%s)\n$ %s\n%s\n", r.id, o.duration, o.cmd, buf.String())
		o.results, o.skips, _ = gobench.Parse(bytes.NewReader(buf.Bytes()))
		if err != nil {
			o.err = lastLines(buf.String(), 3)
			log.Printf("%-9s failed after %s: %v\n%s", r.id, o.duration, err, lastLines(buf.String(), 15))
		} else {
			log.Printf("%-9s %d results in %s", r.id, len(o.results), o.duration)
		}
	}
	m.loadEnd = loadAvg()
	m.elapsed = time.Since(began).Round(time.Second)

	rows := buildRows(outcomes)
	dir := filepath.Join(root, *out)
	if filepath.IsAbs(*out) {
		dir = *out
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Fatal(err)
	}
	md := renderMarkdown(m, rows, outcomes, order, missing, isRoot, *quick, *cpu, *cpus)
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(md), 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "raw.txt"), raw.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	if err := drawChart(filepath.Join(dir, "results.svg"), rows, m); err != nil {
		log.Fatal(err)
	}
	if *png {
		if err := drawChart(filepath.Join(dir, "results.png"), rows, m); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Print(md)
	log.Printf("wrote %s/results.md, results.svg and raw.txt in %s", *out, m.elapsed)
}

func runIDs() string {
	var ids []string
	for _, r := range runs {
		ids = append(ids, r.id)
	}
	return strings.Join(ids, ",")
}

func pkgOf(tool string) string {
	for _, t := range tools {
		if t.name == tool {
			return "Debian package " + t.pkg
		}
	}
	return tool
}

// libraryModule is the module whose packages the benchmarks are, in the repository that
// also holds this command's own module.
const libraryModule = "github.com/unikit/unikit"

// libraryRoot is the directory of the library's go.mod: the working directory or the nearest
// one above it whose go.mod declares libraryModule.
func libraryRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && modulePath(b) == libraryModule {
			return dir, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", fmt.Errorf("run bench inside the unikit repository (no go.mod of %s here or above)", libraryModule)
		}
		dir = up
	}
}

// modulePath is the path a go.mod declares on its module line.
func modulePath(gomod []byte) string {
	for _, l := range strings.Split(string(gomod), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " ^$|()*?[]\"'\\&;<>") {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		} else {
			q[i] = a
		}
	}
	return strings.Join(q, " ")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// machine describes where the figures came from.
type machine struct {
	nproc                            int
	model, kernel, goVersion, memory string
	date, command                    string
	loadStart, loadEnd               string
	elapsed                          time.Duration
}

func machineInfo() *machine {
	m := &machine{nproc: runtime.NumCPU(), date: time.Now().UTC().Format("2006-01-02 15:04 MST"), loadStart: loadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.model = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.TrimPrefix(strings.SplitN(string(b), "\n", 2)[0], "MemTotal:"), "%d", &kb)
		m.memory = fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
	}
	if out, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		m.goVersion = strings.TrimSpace(string(out))
	}
	return m
}

func (m *machine) summary() string {
	return fmt.Sprintf("%d CPUs (%s), %s RAM, %s, %s", m.nproc, m.model, m.memory, m.kernel, m.goVersion)
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
