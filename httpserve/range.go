package httpserve

import (
	"strconv"
	"strings"
)

// byteRange is one satisfiable range of a representation: length bytes from start.
type byteRange struct{ start, length int64 }

// rangeResult is how a Range field is to be answered.
type rangeResult uint8

const (
	// rangeIgnore: answer 200 with the whole representation. RFC 9110 §14.2 lets a server
	// ignore a Range field, and httpserve does for unknown units, malformed fields, more
	// ranges than the cap, and ranges whose total exceeds the representation (overlap).
	rangeIgnore rangeResult = iota
	// rangeOK: answer 206 with the ranges.
	rangeOK
	// rangeUnsatisfiable: answer 416 with "Content-Range: bytes */size".
	rangeUnsatisfiable
)

// parseRange parses the value of a Range field (RFC 9110 §14.1.2) for a representation of
// size bytes, appending the satisfiable ranges to out[:0]. At most maxRanges range specs are
// considered: a field with more is ignored, as is one whose satisfiable ranges add up to more
// than size (which only overlapping ranges can do), so the bytes sent never exceed those of
// the representation plus the multipart framing. Numbers of any length are parsed without
// overflow ("bytes=0-18446744073709551615" is the whole representation), and "bytes=-0"
// (an empty suffix) is unsatisfiable. It never allocates when cap(out) >= maxRanges.
func parseRange(h string, size int64, maxRanges int, out []byteRange) ([]byteRange, rangeResult) {
	out = out[:0]
	h = trimOWS(h)
	if len(h) < 6 || !strings.EqualFold(h[:6], "bytes=") {
		return out, rangeIgnore
	}
	h = h[6:]
	specs := 0
	var total int64
	for len(h) > 0 {
		var spec string
		if i := strings.IndexByte(h, ','); i >= 0 {
			spec, h = h[:i], h[i+1:]
		} else {
			spec, h = h, ""
		}
		spec = trimOWS(spec)
		if spec == "" {
			continue // an empty list element, which RFC 9110 §5.6.1 tells recipients to skip
		}
		specs++
		if specs > maxRanges {
			return out[:0], rangeIgnore
		}
		dash := strings.IndexByte(spec, '-')
		if dash < 0 {
			return out[:0], rangeIgnore
		}
		var r byteRange
		if dash == 0 { // suffix-range: the last n bytes
			n, ok := parseDigits(spec[1:])
			if !ok {
				return out[:0], rangeIgnore
			}
			if n == 0 || size == 0 {
				continue // unsatisfiable
			}
			n = min(n, size)
			r = byteRange{size - n, n}
		} else {
			first, ok := parseDigits(spec[:dash])
			if !ok {
				return out[:0], rangeIgnore
			}
			last := int64(maxInt64)
			if spec[dash+1:] != "" {
				if last, ok = parseDigits(spec[dash+1:]); !ok || last < first {
					return out[:0], rangeIgnore
				}
			}
			if first >= size {
				continue // unsatisfiable
			}
			last = min(last, size-1)
			r = byteRange{first, last - first + 1}
		}
		total += r.length // each length <= size, at most maxRanges of them: no overflow
		if total > size {
			return out[:0], rangeIgnore
		}
		out = append(out, r)
	}
	if specs == 0 {
		return out, rangeIgnore
	}
	if len(out) == 0 {
		if size == 0 {
			return out, rangeIgnore // RFC 9110 lets an empty representation be sent whole
		}
		return out, rangeUnsatisfiable
	}
	return out, rangeOK
}

// multipartLen is the length of a multipart/byteranges body for ranges of v.
func multipartLen(v *variant, ranges []byteRange) int64 {
	size := int64(len(v.data))
	sizeDigits := int64(digits(size))
	var n int64
	for _, r := range ranges {
		// CRLF "--" boundary CRLF "Content-Type: " ctype CRLF "Content-Range: bytes " a "-" b "/" size CRLF CRLF
		n += int64(2+2+len(v.boundary)+2+len("Content-Type: ")+len(v.ctype)+2+len("Content-Range: bytes ")) +
			int64(digits(r.start)) + 1 + int64(digits(r.start+r.length-1)) + 1 + sizeDigits + 4 + r.length
	}
	return n + int64(2+2+len(v.boundary)+2+2) // CRLF "--" boundary "--" CRLF
}

// digits returns the number of decimal digits of n >= 0.
func digits(n int64) int {
	d := 1
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}

// appendPartHeader appends the delimiter and fields that precede one part.
func appendPartHeader(b []byte, v *variant, r byteRange) []byte {
	b = append(b, "\r\n--"...)
	b = append(b, v.boundary...)
	b = append(b, "\r\n"...)
	b = appendRangeFields(b, v, r)
	return append(b, "\r\n"...)
}

// appendRangeFields appends the Content-Type and Content-Range fields of range r of v, each
// with its CRLF: the fields that describe a range in a single-range 206 head and in each
// part of a multipart/byteranges body.
func appendRangeFields(b []byte, v *variant, r byteRange) []byte {
	b = append(b, "Content-Type: "...)
	b = append(b, v.ctype...)
	b = append(b, "\r\nContent-Range: bytes "...)
	b = strconv.AppendInt(b, r.start, 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, r.start+r.length-1, 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(len(v.data)), 10)
	return append(b, "\r\n"...)
}

// appendCloseDelimiter appends the delimiter that ends a multipart/byteranges body.
func appendCloseDelimiter(b []byte, v *variant) []byte {
	b = append(b, "\r\n--"...)
	b = append(b, v.boundary...)
	return append(b, "--\r\n"...)
}
