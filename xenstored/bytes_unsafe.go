package xenstored

import "unsafe"

// transientString views b as a string without copying. The result is valid
// only while b is not modified: request paths live in the connection's read
// buffer for the duration of one request. Anything kept beyond the request
// (map keys, watch paths, node paths) must be copied with strings.Clone.
func transientString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
