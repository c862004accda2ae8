//go:build amd64 || arm64

package ring

// This file only exists on the little-endian 64-bit hosts whose blkif/netif
// layout (x86_64 ABI, also arm-abi) the typed structs mirror; building the
// package elsewhere fails on purpose rather than corrupting rings.
const hostLayoutOK = true

var _ = hostLayoutOK
