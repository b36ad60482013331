package xenstore

import "strconv"

// ParseUint parses a xenstore number strictly: decimal digits only, at most max. Values from
// another domain are untrusted strings.
func ParseUint(v string, max uint64) (uint64, error) {
	if v == "" || len(v) > 20 {
		return 0, ErrBadValue
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, ErrBadValue
		}
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n > max {
		return 0, ErrBadValue
	}
	return n, nil
}
