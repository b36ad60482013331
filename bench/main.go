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
	{"qemu-system-x86_64", "qemu-system-x86", "the VM benchmark's emulator (TCG without /dev/kvm)"},
	{"qemu-system-aarch64", "qemu-system-arm", "the Xen benchmark's emulator: Xen, dom0 and a domU on arm64 under TCG"},
	{"etcd", "etcd-server", "the queue's shared store, for its claim latency on etcd"},
	{"passt", "passt", "QEMU's user-mode network, the anchor for -net user at 1 MiB × 500"},
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

// Where results go by default, relative to the library's root: a full run's are the ones
// committed and quoted in the README, a -quick run's are a check of the pipeline.
const (
	resultsDir      = "bench/results"
	quickResultsDir = "bench/results/quick"
	// onlyResultsDir holds a -only run's results: a few runs measured again must not replace
	// the full run's record in resultsDir.
	onlyResultsDir = "bench/results/only"
)

func main() {
	quick := flag.Bool("quick", false, "fewer rows, counts and shorter benchtimes (about three minutes); results go to "+quickResultsDir+" unless -o says otherwise")
	cpu := flag.String("cpu", "", "CPU list (taskset -c) for single-process micro-benchmarks (default: the last CPU)")
	cpus := flag.String("cpus", "", "CPU list for benchmarks that run their client and server as children (default: CPUs 0-1)")
	only := flag.String("only", "", "comma-separated run ids to run (default: all); ids: "+runIDs())
	png := flag.Bool("png", false, "also write the charts as PNG")
	render := flag.Bool("render", false, "measure nothing: write results.md, the charts and the README's block again from the run.json and raw.txt in the results directory")
	soak := flag.Bool("soak", false, "instead of the benchmarks, run the soak and abuse suite (examples/blog's TestSoak: in full, about 35 minutes; with -quick its short version, about 3) and write "+soakReportFile+", "+soakChartFile+", "+soakRecordFile+" and "+soakRawFile+"; with -render, write "+soakReportFile+" and "+soakChartFile+" again from "+soakRecordFile)
	out := flag.String("o", "", "results directory (default "+resultsDir+", or "+quickResultsDir+" with -quick, "+onlyResultsDir+" with -only); the README's block is written from "+resultsDir+" only")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("bench: ")

	root, err := libraryRoot()
	if err != nil {
		log.Fatal(err)
	}
	if *out == "" {
		switch {
		case *quick:
			*out = quickResultsDir
		case *only != "" && !*render:
			*out = onlyResultsDir
		default:
			*out = resultsDir
		}
	}
	dir := *out
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(root, dir)
	}
	readme := ""
	if filepath.Clean(dir) == filepath.Join(root, resultsDir) {
		readme = filepath.Join(root, "README.md")
	}
	if *soak {
		if *render {
			err = renderSoak(dir, *png)
		} else {
			err = runSoak(root, dir, *quick, *png)
		}
		if err != nil {
			log.Fatal(err)
		}
		log.Printf("wrote %s/%s and %s", *out, soakReportFile, soakChartFile)
		return
	}
	if *render {
		rec, err := readRecord(filepath.Join(dir, recordFile))
		if err != nil {
			log.Fatal(err)
		}
		sections, err := readRaw(filepath.Join(dir, "raw.txt"))
		if err != nil {
			log.Fatal(err)
		}
		outcomes, order, err := outcomesFromRecord(rec, sections)
		if err != nil {
			log.Fatal(err)
		}
		if err := writeReport(dir, rec, outcomes, order, *png, readme); err != nil {
			log.Fatal(err)
		}
		log.Printf("wrote %s/results.md and its charts from %s and raw.txt%s", *out, recordFile, readmeNote(readme))
		return
	}

	n := runtime.NumCPU()
	if *cpu == "" {
		*cpu = fmt.Sprint(n - 1)
	}
	if *cpus == "" {
		*cpus = fmt.Sprintf("0-%d", min(n, 2)-1)
	}
	rec := newRecord(root)
	rec.Command = strings.Join(append([]string{"go run ./bench"}, os.Args[1:]...), " ")
	rec.Quick, rec.CPU, rec.CPUs = *quick, *cpu, *cpus
	log.Printf("%s; load average %s; commit %s", rec.summary(), rec.LoadStart, rec.commitLine())

	have := map[string]bool{}
	for _, t := range tools {
		if _, err := exec.LookPath(t.name); err == nil {
			have[t.name] = true
		} else {
			rec.Missing = append(rec.Missing, fmt.Sprintf("%s (%s): DEBIAN_FRONTEND=noninteractive apt-get install -y %s", t.name, t.use, t.pkg))
		}
	}
	for _, s := range rec.Missing {
		log.Printf("missing %s", s)
	}
	rec.Root = os.Geteuid() == 0
	if !rec.Root {
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
		case r.root && !rec.Root:
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
			var section strings.Builder
			for _, x := range res {
				section.WriteString(formatMeasured(x))
			}
			if err != nil {
				o.err = lastLines(err.Error(), 3)
				fmt.Fprintf(&section, "%v\n", err)
				log.Printf("%-9s failed after %s: %v", r.id, o.duration, err)
			} else {
				log.Printf("%-9s %d results in %s", r.id, len(o.results), o.duration)
			}
			writeRawSection(&raw, r.id, o.duration, o.cmd, section.String())
			continue
		}
		bench := r.bench
		if *quick && r.quickBench != "" {
			bench, o.subset = r.quickBench, true
		}
		args := []string{"test", "-run", "^$", "-bench", bench, "-benchtime", s.benchtime,
			"-count", fmt.Sprint(s.count), "-timeout", r.timeoutFlag()}
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
		writeRawSection(&raw, r.id, o.duration, o.cmd, buf.String())
		o.results, o.skips, _ = gobench.Parse(bytes.NewReader(buf.Bytes()))
		if err != nil {
			o.err = lastLines(buf.String(), 3)
			log.Printf("%-9s failed after %s: %v\n%s", r.id, o.duration, err, lastLines(buf.String(), 15))
		} else {
			log.Printf("%-9s %d results in %s", r.id, len(o.results), o.duration)
		}
	}
	rec.LoadEnd = loadAvg()
	rec.Elapsed = time.Since(began).Round(time.Second).String()
	rec.Runs = runRecords(order)

	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "raw.txt"), raw.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	if err := writeRecord(filepath.Join(dir, recordFile), rec); err != nil {
		log.Fatal(err)
	}
	if err := writeReport(dir, rec, outcomes, order, *png, readme); err != nil {
		log.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "results.md"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(md))
	log.Printf("wrote %s/results.md, its charts, %s and raw.txt in %s%s", *out, recordFile, rec.Elapsed, readmeNote(readme))
}

func readmeNote(readme string) string {
	if readme == "" {
		return ""
	}
	return ", and the figures' block in README.md"
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
