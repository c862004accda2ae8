// Package xenstored is a XenStore daemon speaking the xs_wire protocol of
// xen/io/xs_wire.h, embeddable in a process (the sandbox host) or run as
// `xfeat xenstored`. Requests enter as xs_wire messages on a connection
// (decoded with package xswire, the format the client shares) and leave as
// replies and watch events on the same connection; it does not use the
// client.
//
// Connections on the main socket (<rundir>/socket, mode 0600) are domain 0
// and privileged, as unix-socket clients of C xenstored are. INTRODUCE
// creates, per domain, <rundir>/domains/<domid>/socket: its connections act
// as that domain, unprivileged, exactly as the domain's xenbus ring would,
// so permissions, quotas and relative paths apply to it as C xenstored
// applies them to a guest.
//
// Semantics follow C xenstored (tools/xenstored in Xen): per-node permission
// lists (owner first, its letter the default for everyone else, then an
// ACL), inheritance on create, error masking on unreadable nodes,
// transactions that fail with eAGAIN at commit when a node they read
// changed (generation counts), watches that fire once when set and then on
// every change at or below the path (and for a watched node when an
// ancestor is removed), sent only to watchers that may read the node
// (XSA-115) and are told once when several watches of one connection with
// the same token see the change (C drops an event identical to one still
// queued, XSA-326), @introduceDomain/@releaseDomain (whose permissions can
// be set but, as in C, not read), permission entries read as C reads them
// (strtol, 32 bits), and C's per-domain quotas with their default values;
// exceeding a quota answers eNOSPC, as C xenstored does (E2BIG for the
// watch count, EINVAL for the path length). C 4.17 on a real Xen host is
// the reference: tests/xenhost/xsdiff_test.go compares the two request by
// request, and lists where they knowingly differ.
// Two quotas differ in form: outstanding replies are limited per connection
// (a real guest has one ring; a domain socket accepts at most
// Config.MaxDomainConns connections), and C's per-domain memory quota is
// replaced by the per-connection output bound below.
//
// XS_CONTROL, which carries C's debugging and live-update commands
// (xenstore-control), is privileged as in C and has no command here: it
// answers EINVAL, as C does a command it does not know.
//
// Invariants:
//   - Every request gets exactly one reply (an errno for bad input) or its
//     connection is closed (a header announcing more than 4096 payload
//     bytes); nothing a client sends panics the daemon or blocks another
//     client.
//   - The tree lock (Server.st) is the only lock held while a request is
//     handled; a connection's output lock (conn.out) may be taken while
//     holding it, never the other way round. No socket I/O happens under
//     the tree lock.
//   - Nodes in Server.st.nodes are replaced, not modified, while any
//     transaction is open, so a transaction's view never changes under it.
//   - Each connection's output is bounded (Config.MaxConnOutput) and each
//     write has a deadline (Config.WriteTimeout): a client that stops
//     reading is disconnected; the others keep going.
//   - A log line a domain's connections can cause again and again (refused
//     past MaxDomainConns, a message too long, a client that stops
//     reading) is rate-limited per domain (Config.DomainLogf,
//     internal/hostlog): no guest can grow the log at will.
package xenstored
