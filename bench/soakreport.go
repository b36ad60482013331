package main

import (
	"fmt"
	"slices"
	"strings"
)

// soakCriteria are the soak test's limits, as its report states them.
type soakCriteria struct {
	RSSSlackBytes       float64 `json:"rss_slack_bytes"`
	RSSSlackShare       float64 `json:"rss_slack_share"`
	GoroutineSlack      float64 `json:"goroutine_slack"`
	GoroutineSlackShare float64 `json:"goroutine_slack_share"`
	SlowAddedLimit      float64 `json:"slow_added_limit"`
	P99Factor           float64 `json:"p99_factor"`
	P99SlackMs          float64 `json:"p99_slack_ms"`
	ReturnSlack         float64 `json:"return_slack"`
	ReturnPerConn       float64 `json:"return_per_conn"`
	ReturnWait          float64 `json:"return_wait_s"`
	BadStartLimit       float64 `json:"bad_start_limit_s"`
}

// mib writes bytes in MiB.
func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }

// verdict is "yes" or "**no**".
func verdict(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// cell escapes a table cell.
func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", "\\|"), "\n", " ")
}

// renderSoakMarkdown writes soak.md: the run's provenance, the criteria, a table per
// scenario with a row per network, and the bad start-ups.
func renderSoakMarkdown(run *soakRun) string {
	rec, r, c := run.Record, &run.Report, run.Report.Criteria
	var b strings.Builder
	fmt.Fprintf(&b, "# unikit soak and abuse: the blog appliance over -net user and TAP\n\n")
	fmt.Fprintf(&b, "- command: `%s` (%s version, %s): `UNIKIT_SOAK=%s go %s`, its output in %s\n",
		rec.Command, r.Mode.Name, rec.Elapsed, r.Mode.Name, strings.Join(soakTest, " "), soakRawFile)
	fmt.Fprintf(&b, "- date: %s\n", rec.Date)
	fmt.Fprintf(&b, "- commit: %s\n", rec.commitLine())
	fmt.Fprintf(&b, "- machine: %d CPUs, %s, %s RAM, %s, %s\n", rec.NProc, rec.Model, rec.Memory, rec.Kernel, rec.Go)
	fmt.Fprintf(&b, "- tools: %s\n", rec.toolsLine())
	fmt.Fprintf(&b, "- load average (1, 5, 15 min) at start: %s, at end: %s", rec.LoadStart, rec.LoadEnd)
	if firstLoad(rec.LoadStart) > 0.5 {
		fmt.Fprintf(&b, " — the machine was shared with other work while this ran: latencies and rates are disturbed by it")
	}
	fmt.Fprintf(&b, "\n- outcome: ")
	if run.Passed {
		fmt.Fprintf(&b, "every check passed\n")
	} else {
		fmt.Fprintf(&b, "**failed**: %s\n", strings.Join(run.Failed, ", "))
	}
	fmt.Fprintf(&b, "\nEach scenario starts a fresh blog (`-site` of 1 KiB, 64 KiB, 1 MiB and 8 MiB files, `-debug` on) and samples its resident memory (VmRSS) and, through its debug listener, its goroutines and the stack's connections. Over TAP the blog and its clients run in a network namespace of their own.\n")

	fmt.Fprintf(&b, "\n## Criteria\n\n")
	fmt.Fprintf(&b, "- mixed load: no failed request (wrk's socket errors, non-2xx, timeouts); after the warm-up the samples are split in halves, and the load is flat when the second half's mean RSS exceeds the first's by at most max(%s, %.0f%%) and its median goroutine count the first's by at most max(%.0f, %.0f%%)",
		mib(c.RSSSlackBytes), 100*c.RSSSlackShare, c.GoroutineSlack, 100*c.GoroutineSlackShare)
	if mix := firstMixed(r.Nets); mix != nil && mix.BaselineRSS != 0 {
		// Runs recorded before the floors and the settling were judged carry no baseline:
		// their criteria are stated as they were.
		fmt.Fprintf(&b, ", and so do each half's least RSS and goroutine count (the short version judges these floors alone); once wrk has gone, the stack's connections back to none, goroutines to the baseline + %.0f and RSS back as for the slow readers, within %.0f s",
			c.GoroutineSlack/2, c.ReturnWait)
	}
	fmt.Fprintf(&b, "\n")
	fmt.Fprintf(&b, "- reload: no failed request, every checked response one version of its file whole (its SHA-256 among the versions written) with that version's entity tag, and a reload logged for every SIGHUP\n")
	fmt.Fprintf(&b, "- slow readers: they add at most %s of RSS (the most outside the normal client's runs, against a baseline taken after warming up and `POST /debug/gc`); the normal client's p99 (wrk, 4 connections, the 64 KiB file; best of 3 runs each) among them at most %.0f× its figure alone + %.0f ms; RSS back within %s, and %.0f KiB for each connection the scenario made, of the baseline within %.0f s of their leaving (the Go runtime keeps descriptors of the goroutines a burst needed, and its heap's metadata); the appliance's write timeout (60 s) cuts off readers that take longer for a response, which \"still served at the end\" counts\n",
		mib(c.SlowAddedLimit), c.P99Factor, c.P99SlackMs, mib(c.ReturnSlack), c.ReturnPerConn/1024, c.ReturnWait)
	fmt.Fprintf(&b, "- idle keep-alive connections: fresh requests served while they are held, every one of them answers a second request, RSS back as for the slow readers\n")
	fmt.Fprintf(&b, "- resets mid-download: the stack's connections back to none, goroutines to the baseline + %.0f, RSS back as for the slow readers, within %.0f s; the blog serves on\n", c.GoroutineSlack/2, c.ReturnWait)
	fmt.Fprintf(&b, "- bad start-ups: a non-zero exit within %.0f s and a message that says what is wrong\n", c.BadStartLimit)

	nets := r.Nets
	fmt.Fprintf(&b, "\n## Mixed load\n\n")
	if mix := firstMixed(nets); mix != nil {
		fmt.Fprintf(&b, "wrk, 2 threads, %d connections, %.0f s; each round of 100 requests: %s. The chart below plots the samples.\n\n",
			mix.Conns, mix.Seconds, mixLine(mix.Mix))
	}
	fmt.Fprintf(&b, "| net | requests | req/s | p50 | p99 | failed | peak RSS | RSS, halves after warm-up | goroutines, halves | flat? |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, n := range nets {
		if m := n.Mixed; m != nil {
			f := m.Flatness
			fmt.Fprintf(&b, "| %s | %d | %.0f | %.1f ms | %.0f ms | %s | %s | %s → %s (+%s allowed) | %.0f → %.0f (+%.0f allowed) | %s |\n",
				n.Net, m.Requests, m.ReqPerSec, m.P50ms, m.P99ms, orNone(m.Failures), mib(m.PeakRSS),
				mib(f.RSSFirst), mib(f.RSSSecond), mib(f.RSSAllowed), f.GoroutinesFirst, f.GoroutinesSecond, f.GoroutinesAllowed,
				verdict(m.flat(r.Mode.Name) && m.Failures == ""))
		}
	}
	fmt.Fprintf(&b, "\n![resident memory and goroutines over time](%s)\n", soakChartFile)

	fmt.Fprintf(&b, "\n## Reload while the site changes\n\n| net | seconds | SIGHUPs | reloads done | responses checked | versions seen | wrk requests | failures |\n|---|---|---|---|---|---|---|---|\n")
	for _, n := range nets {
		if l := n.Reload; l != nil {
			fmt.Fprintf(&b, "| %s | %.0f | %d | %d | %d | %d | %d | %s |\n", n.Net, l.Seconds, l.Reloads, l.Reloaded, l.Checked, l.Versions, l.WrkReqs, orNone(cell(l.Failures)))
		}
	}

	fmt.Fprintf(&b, "\n## Slow readers\n\n| net | readers | held | baseline | with them | added | limit met? | normal p99 alone | among them | within %.0f×? | still served at the end | after they left |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n", c.P99Factor)
	for _, n := range nets {
		if s := n.Slow; s != nil {
			fmt.Fprintf(&b, "| %s | %d | %.0f s | %s | %s (%s with the normal client) | %s | %s | %.2f ms %s | %.2f ms %s | %s | %d | %s in %.0f s |\n",
				n.Net, s.Connected, s.HoldSeconds, mib(s.BaselineRSS), mib(s.ReadersRSS), mib(s.PeakRSS), mib(s.AddedRSS),
				verdict(s.AddedRSS <= c.SlowAddedLimit), s.UnloadedP99, p99Runs(s.UnloadedRuns), s.LoadedP99, p99Runs(s.LoadedRuns),
				verdict(s.LoadedP99 <= c.P99Factor*s.UnloadedP99+c.P99SlackMs), s.ServedAtEnd, mib(s.AfterRSS), s.ReturnedIn)
		}
	}

	fmt.Fprintf(&b, "\n## Idle keep-alive connections\n\n| net | connections | baseline | held | per connection | goroutines each | fresh requests served | answered again | after they closed |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, n := range nets {
		if i := n.Idle; i != nil {
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %.1f KiB | %.2f | %d | %d of %d | %s in %.0f s |\n",
				n.Net, i.Conns, mib(i.BaselineRSS), mib(i.HeldRSS), i.BytesPerConn/1024, i.GoroutinesPerConn,
				i.ServedWhileIdle, i.ServedAgain, i.Conns, mib(i.AfterRSS), i.ReturnedIn)
		}
	}

	fmt.Fprintf(&b, "\n## Clients that reset mid-download\n\n| net | clients | RSS baseline → peak → after | goroutines before → after | connections left | in |\n|---|---|---|---|---|---|\n")
	for _, n := range nets {
		if s := n.Resets; s != nil {
			fmt.Fprintf(&b, "| %s | %d | %s → %s → %s | %.0f → %.0f | %.0f | %.1f s |\n",
				n.Net, s.Clients, mib(s.BaselineRSS), mib(s.PeakRSS), mib(s.AfterRSS), s.BaselineRoutines, s.AfterRoutines, s.AfterConns, s.ReturnedIn)
		}
	}

	fmt.Fprintf(&b, "\n## Bad start-ups\n\n| case | arguments | exit | time | message |\n|---|---|---|---|---|\n")
	for _, s := range r.BadStarts {
		args := "`" + cell(strings.Join(s.Args, " ")) + "`"
		if s.Skipped != "" {
			fmt.Fprintf(&b, "| %s | %s | skipped | | %s |\n", s.Name, args, cell(s.Skipped))
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %.3f s | %s |\n", s.Name, args, s.Exit, s.Seconds, cell(s.Message))
	}
	return b.String()
}

// firstMixed returns the first network's mixed load, or nil.
func firstMixed(nets []soakNet) *soakMixed {
	for _, n := range nets {
		if n.Mixed != nil {
			return n.Mixed
		}
	}
	return nil
}

// mixLine writes a round's requests by path, most first.
func mixLine(mix map[string]int) string {
	paths := make([]string, 0, len(mix))
	for p := range mix {
		paths = append(paths, p)
	}
	slices.SortFunc(paths, func(a, b string) int { return mix[b] - mix[a] })
	parts := make([]string, len(paths))
	for i, p := range paths {
		parts[i] = fmt.Sprintf("%d × %s", mix[p], p)
	}
	return strings.Join(parts, ", ")
}

// p99Runs writes the runs' figures in brackets.
func p99Runs(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.2f", x)
	}
	return "(runs " + strings.Join(s, ", ") + ")"
}

// orNone is s, or "none".
func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
