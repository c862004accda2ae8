// Package ringinterop holds the interoperability tests of backends/ring,
// backends/grant and the sandbox host's memory files against C programs built
// with Debian's Xen headers (ring.h, blkif.h, grant_table.h): a C blkfront
// driving the Go backend, and the Go frontend driving a C blkback, on one-
// to sixteen-page rings, in separate processes. It has no non-test code.
package ringinterop
