// Package xswire is the xs_wire format (xen/include/public/io/xs_wire.h),
// the one definition both ends of a XenStore connection use: package
// xsclient to send requests and read replies, package xenstored to read
// requests and send replies.
//
// It holds the message header (struct xsd_sockmsg: type, req_id, tx_id, len,
// little-endian uint32s at named offsets) and its codec, the message types,
// the wire limits (XENSTORE_PAYLOAD_MAX, path lengths, reserved domain ids),
// the errno names an ERROR reply carries (xsd_errors) with the Error value
// they become, the permission form ("r5", "n0") of GET_PERMS and SET_PERMS,
// and the payload helpers (NUL-separated strings).
//
// Data enters as bytes from a socket or /dev/xen/xenbus (ReadMessage,
// DecodeHeader) and leaves as bytes (AppendHeader, PutHeader); nothing here
// does I/O of its own beyond the io.Reader it is given.
//
// Invariants: a header whose len exceeds PayloadMax is refused before any
// payload is read or allocated (ErrPayloadTooLong), so a hostile peer can
// neither make a reader allocate nor over-read; decoding never panics.
package xswire
