package httpserve

import "strings"

// negotiate picks the variant for an Accept-Encoding value (RFC 9110 §12.5.3): the
// precompressed variant with the highest q-value above 0, ties going to the store's order
// (br, zstd, gzip), else identity (vars[0]), which is also sent when the client refuses it but
// accepts nothing else.
func negotiate(ae string, vars []*variant) *variant {
	best, bestQ := vars[0], 0
	if ae == "" {
		return best
	}
	for _, v := range vars[1:] {
		if q := codingQ(ae, v.enc); q > bestQ {
			best, bestQ = v, q
		}
	}
	return best
}

// codingQ returns the q-value, in thousandths, that an Accept-Encoding value gives a coding
// (through its name or "*"); 0 when absent or refused.
func codingQ(ae, coding string) int {
	star := -1
	for ae != "" {
		var item string
		item, ae, _ = strings.Cut(ae, ",")
		name, params, _ := strings.Cut(item, ";")
		name = trimOWS(name)
		q := 1000
		for params != "" {
			var p string
			p, params, _ = strings.Cut(params, ";")
			p = trimOWS(p)
			if len(p) >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=' {
				q = parseQ(p[2:])
			}
		}
		if strings.EqualFold(name, coding) {
			return q
		}
		if name == "*" {
			star = q
		}
	}
	return max(star, 0)
}

// parseQ parses a qvalue ("0", "0.5", "1.000") into thousandths; malformed gives 0.
func parseQ(s string) int {
	if s == "" || (s[0] != '0' && s[0] != '1') {
		return 0
	}
	q := int(s[0]-'0') * 1000
	if len(s) > 1 {
		if s[1] != '.' || len(s) > 5 {
			return 0
		}
		mul := 100
		for i := 2; i < len(s); i++ {
			if !isDigit(s[i]) {
				return 0
			}
			q += int(s[i]-'0') * mul
			mul /= 10
		}
	}
	return min(q, 1000)
}
