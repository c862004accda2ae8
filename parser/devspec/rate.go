package devspec

import (
	"fmt"
	"strings"
)

// Rate is a vif's credit-based rate limit as libxl stores it: a number of
// bytes that may be sent every interval. Written to the backend as
// `rate = "<BytesPerInterval>,<IntervalUsecs>"`.
type Rate struct {
	BytesPerInterval uint64 `json:"bytes_per_interval"`
	IntervalUsecs    uint32 `json:"interval_usecs"`
}

// RateError is a rejected rate= value; Msg and Near are what
// xlu_vif_parse_rate prints ("config parsing error in vif: <Msg> in
// `<Near>'"), Start/End the offending part of the rate string.
type RateError struct {
	Msg        string
	Near       string
	Start, End int
}

func (e *RateError) Error() string { return fmt.Sprintf("%s in `%s'", e.Msg, e.Near) }

const maxUint32 = 1<<32 - 1

// ParseRate parses a vif rate= value (RATE[@INTERVAL]) exactly as
// libxlutil's xlu_vif_parse_rate does, arithmetic and quirks included (a
// leading 0 makes the number octal; the unit is read where the number
// stopped).
func ParseRate(rate string) (Rate, error) {
	r := Rate{IntervalUsecs: 50000}
	bytesPart, interval, hasInterval := strings.Cut(rate, "@")
	if bytesPart == "" {
		return Rate{}, &RateError{Msg: "no rate specified", Near: rate, End: len(rate)}
	}
	bps, err := rateBytesPerSec(bytesPart)
	if err != nil {
		return Rate{}, err
	}
	if hasInterval {
		u, err := rateIntervalUsecs(interval)
		if err != nil {
			err.Start += len(bytesPart) + 1
			err.End += len(bytesPart) + 1
			return Rate{}, err
		}
		r.IntervalUsecs = u
	}
	if r.IntervalUsecs != 0 && bps > ^uint64(0)/uint64(r.IntervalUsecs) {
		return Rate{}, &RateError{Msg: "rate overflow", Near: rate, End: len(rate)}
	}
	r.BytesPerInterval = bps * uint64(r.IntervalUsecs) / 1000000
	return r, nil
}

// matchRateBytes is the ERE ^[0-9]+[GMK]?[Bb]/s$.
func matchRateBytes(s string) bool {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'G' || s[i] == 'M' || s[i] == 'K') {
		i++
	}
	return s[i:] == "B/s" || s[i:] == "b/s"
}

// matchRateInterval is the ERE ^[0-9]+[mu]?s?$.
func matchRateInterval(s string) bool {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'm' || s[i] == 'u') {
		i++
	}
	if i < len(s) && s[i] == 's' {
		i++
	}
	return i == len(s)
}

// at returns s[i] or NUL past the end, as C's string indexing would.
func at(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

func rateBytesPerSec(s string) (uint64, *RateError) {
	if !matchRateBytes(s) {
		return 0, &RateError{Msg: "invalid rate", Near: s, End: len(s)}
	}
	v, n, of := cStrtoul(s, 0)
	if v == 0 || v > maxUint32 || of {
		return 0, &RateError{Msg: "rate overflow", Near: s, End: len(s)}
	}
	switch at(s, n) {
	case 'G':
		v *= 1000 * 1000 * 1000
	case 'M':
		v *= 1000 * 1000
	case 'K':
		v *= 1000
	}
	if at(s, n) == 'b' || at(s, n+1) == 'b' {
		v /= 8
	}
	return v, nil
}

func rateIntervalUsecs(s string) (uint32, *RateError) {
	if !matchRateInterval(s) {
		return 0, &RateError{Msg: "invalid replenishment interval", Near: s, End: len(s)}
	}
	v, n, of := cStrtoul(s, 0)
	if v == 0 || v > maxUint32 || of {
		return 0, &RateError{Msg: "replenishment interval overflow", Near: s, End: len(s)}
	}
	switch at(s, n) {
	case 's', 0:
		v *= 1000 * 1000
	case 'm':
		v *= 1000
	}
	if v > maxUint32 {
		return 0, &RateError{Msg: "replenishment interval overflow", Near: s, End: len(s)}
	}
	return uint32(v), nil
}
