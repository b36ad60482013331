package httpserve

import (
	"bufio"
	"fmt"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
)

// The rule files a site may carry at its root, in the syntax Netlify and Cloudflare Pages use.
// They are read when the content is (re)loaded and are never served themselves.
const (
	headersFile   = "_headers"
	redirectsFile = "_redirects"
)

// pattern is a path pattern of a rule: literal segments, ":name" placeholders matching one
// segment, and an optional final "*" (the splat) matching the rest of the path, possibly empty.
type pattern struct {
	segs  []string
	splat bool
}

// parsePattern parses the path pattern of a rule; it must start with '/'.
func parsePattern(s string) (pattern, error) {
	if !strings.HasPrefix(s, "/") {
		return pattern{}, fmt.Errorf("pattern %q does not start with /", s)
	}
	var p pattern
	rest := strings.Trim(s, "/")
	if rest == "" {
		return p, nil
	}
	parts := strings.Split(rest, "/")
	for i, seg := range parts {
		switch {
		case seg == "*" && i == len(parts)-1:
			p.splat = true
		case strings.HasSuffix(seg, "*") && i == len(parts)-1:
			// "/blog*" style: a prefix on the last segment followed by the splat.
			p.segs = append(p.segs, seg[:len(seg)-1]+"*")
			p.splat = true
		case seg == "":
			return pattern{}, fmt.Errorf("pattern %q has an empty segment", s)
		default:
			p.segs = append(p.segs, seg)
		}
	}
	return p, nil
}

// match matches a clean path (leading '/', optional trailing '/', which is ignored as Netlify
// ignores it) and calls set for each placeholder and the splat. set may be nil.
func (p *pattern) match(path string, set func(name, value string)) bool {
	rest := strings.TrimPrefix(path, "/")
	for i, seg := range p.segs {
		prefixSplat := p.splat && i == len(p.segs)-1 && strings.HasSuffix(seg, "*")
		if prefixSplat {
			pre := seg[:len(seg)-1]
			if !strings.HasPrefix(rest, pre) {
				return false
			}
			if set != nil {
				set("splat", rest[len(pre):])
			}
			return true
		}
		if rest == "" {
			return false
		}
		var cur string
		cur, rest, _ = strings.Cut(rest, "/")
		if seg[0] == ':' {
			if set != nil {
				set(seg[1:], cur)
			}
		} else if cur != seg {
			return false
		}
	}
	if p.splat {
		if set != nil {
			set("splat", rest)
		}
		return true
	}
	return rest == ""
}

// redirectRule is one line of _redirects: from, to, status and the force flag.
type redirectRule struct {
	from   pattern
	to     string // a path starting with '/' or an absolute http(s) URL, with :placeholders
	status int
	force  bool
}

// parseRedirects parses a _redirects file. Lines it cannot honour (query-parameter or
// country/language/role conditions, proxying to another site with 200, unknown statuses)
// are skipped and described in the returned warnings, so that a site author learns why a rule
// has no effect instead of having it half-applied.
func parseRedirects(data string) (rules []redirectRule, warnings []string) {
	for n, line := range strings.Split(data, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		warn := func(why string) { warnings = append(warnings, fmt.Sprintf("_redirects:%d: %s", n+1, why)) }
		if len(f) < 2 {
			warn("want: from to [status]")
			continue
		}
		from, err := parsePattern(f[0])
		if err != nil {
			warn(err.Error())
			continue
		}
		if strings.Contains(f[1], "=") && !strings.HasPrefix(f[1], "/") && !strings.Contains(f[1], "://") {
			warn("query-parameter conditions are not supported")
			continue
		}
		r := redirectRule{from: from, to: f[1], status: http.StatusMovedPermanently}
		if len(f) > 2 {
			st := f[2]
			if strings.HasSuffix(st, "!") {
				r.force = true
				st = st[:len(st)-1]
			}
			code, err := strconv.Atoi(st)
			if err != nil {
				warn("bad status " + f[2])
				continue
			}
			r.status = code
		}
		if len(f) > 3 {
			warn("conditions (Country, Language, Role, ...) are not supported")
			continue
		}
		switch r.status {
		case 200, 404, 410:
			if !strings.HasPrefix(r.to, "/") {
				warn("rewrites and custom error pages must name a path on this site")
				continue
			}
		case 301, 302, 303, 307, 308:
			if !strings.HasPrefix(r.to, "/") && !strings.HasPrefix(r.to, "https://") && !strings.HasPrefix(r.to, "http://") {
				warn("redirect target must be a path or an http(s) URL")
				continue
			}
		default:
			warn("unsupported status " + strconv.Itoa(r.status))
			continue
		}
		if strings.Contains(r.to, "\\") || !validHeaderValue(r.to) { // it becomes a Location field
			warn("bad target")
			continue
		}
		rules = append(rules, r)
	}
	return rules, warnings
}

// expand substitutes the placeholders of to with the values matched from a request path,
// percent-encoding them; placeholders that matched nothing expand to "".
func (r *redirectRule) expand(path string) string {
	vals := make(map[string]string, 2)
	r.from.match(path, func(k, v string) { vals[k] = v })
	var b []byte
	to := r.to
	for i := 0; i < len(to); {
		if to[i] == ':' && (i == 0 || to[i-1] == '/' || to[i-1] == '=' || to[i-1] == '-' || to[i-1] == '.') {
			j := i + 1
			for j < len(to) && (isAlnum(to[j]) || to[j] == '_') {
				j++
			}
			name := to[i+1 : j]
			if v, ok := vals[name]; ok && name != "" {
				b = appendEscapedPath(b, v)
				i = j
				continue
			}
		}
		b = append(b, to[i])
		i++
	}
	return string(b)
}

// headerRule is one block of _headers: a path pattern and the fields to add.
type headerRule struct {
	path   pattern
	fields []headerField
}

// headerField is one header field: a canonical name and a value.
type headerField struct{ name, value string }

// parseHeaders parses a _headers file: a path line starting with '/', then indented
// "Name: value" lines. Invalid names or values are skipped with a warning.
func parseHeaders(data string) (rules []headerRule, warnings []string) {
	sc := bufio.NewScanner(strings.NewReader(data))
	n := 0
	var cur *headerRule
	for sc.Scan() {
		n++
		raw := sc.Text()
		line := strings.TrimSpace(raw)
		if line == "" || line[0] == '#' {
			continue
		}
		warn := func(why string) { warnings = append(warnings, fmt.Sprintf("_headers:%d: %s", n, why)) }
		if raw[0] != ' ' && raw[0] != '\t' {
			p, err := parsePattern(line)
			if err != nil {
				warn(err.Error())
				cur = nil
				continue
			}
			rules = append(rules, headerRule{path: p})
			cur = &rules[len(rules)-1]
			continue
		}
		if cur == nil {
			warn("header line before any path")
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || !validHeaderName(name) || !validHeaderValue(value) {
			warn("bad header line")
			continue
		}
		cur.fields = append(cur.fields, headerField{textproto.CanonicalMIMEHeaderKey(name), value})
	}
	return rules, warnings
}

// headersFor returns the fields of every block matching path, in file order; repeated names
// are joined with ", " as Netlify does.
func headersFor(rules []headerRule, path string) []headerField {
	var out []headerField
	for i := range rules {
		if !rules[i].path.match(path, nil) {
			continue
		}
	next:
		for _, f := range rules[i].fields {
			for j := range out {
				if out[j].name == f.name {
					out[j].value += ", " + f.value
					continue next
				}
			}
			out = append(out, f)
		}
	}
	return out
}
