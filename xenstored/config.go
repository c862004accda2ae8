package xenstored

import (
	"time"

	"github.com/xfeat/xfeat/xswire"
)

// Quotas limit what one unprivileged domain may use, as C xenstored's
// hard quotas do (tools/xenstored/domain.c), counted as C 4.17 counts
// them. Privileged connections are not limited, except by the protocol's
// own payload maximum and by PathMax, which C applies to every connection.
// A zero field means the C default; a negative one means no limit.
type Quotas struct {
	Nodes            int // nodes owned by the domain (1000)
	Watches          int // watches of the domain (128; as C, it may hold one more)
	Transactions     int // open transactions of the domain (10; as C, it may hold one more)
	Outstanding      int // replies queued but not yet read, per connection (20)
	TransactionNodes int // nodes one transaction may touch (1024)
	NodePerms        int // entries in a node's permission list (5)
	NodeSize         int // a node stays below this many bytes: 24-byte header, 8 a permission, value, child names (2048)
	PathMax          int // path length below /local/domain/<id>/, or of the whole path elsewhere; every connection (2048)
	Payload          int // request payload bytes, any connection (4096, the protocol maximum)
}

// DefaultQuotas returns C xenstored's defaults.
func DefaultQuotas() Quotas {
	return Quotas{
		Nodes:            1000,
		Watches:          128,
		Transactions:     10,
		Outstanding:      20,
		TransactionNodes: 1024,
		NodePerms:        5,
		NodeSize:         2048,
		PathMax:          xswire.RelPathMax,
		Payload:          xswire.PayloadMax,
	}
}

func (q Quotas) withDefaults() Quotas {
	d := DefaultQuotas()
	fill := func(v *int, def int) {
		switch {
		case *v == 0:
			*v = def
		case *v < 0:
			*v = int(^uint(0) >> 1)
		}
	}
	fill(&q.Nodes, d.Nodes)
	fill(&q.Watches, d.Watches)
	fill(&q.Transactions, d.Transactions)
	fill(&q.Outstanding, d.Outstanding)
	fill(&q.TransactionNodes, d.TransactionNodes)
	fill(&q.NodePerms, d.NodePerms)
	fill(&q.NodeSize, d.NodeSize)
	fill(&q.PathMax, d.PathMax)
	fill(&q.Payload, d.Payload)
	if q.Payload > xswire.PayloadMax {
		q.Payload = xswire.PayloadMax
	}
	if q.PathMax > xswire.RelPathMax {
		q.PathMax = xswire.RelPathMax // C caps -M the same way
	}
	return q
}

// Domain describes an introduced domain.
type Domain struct {
	ID     uint32
	GFN    uint64 // guest frame of the xenstore ring, as given to INTRODUCE
	Evtchn uint32 // event channel, as given to INTRODUCE
	Socket string // its per-domain socket ("" without a Rundir)
}

// Config configures a Server.
type Config struct {
	// Rundir holds socket (domain 0's) and domains/<id>/socket. Empty:
	// no sockets; connections come only through ServeConn.
	Rundir string

	Quotas Quotas

	// MaxConnOutput bounds the bytes queued for one connection (replies and
	// watch events it has not read); beyond it the connection is closed.
	// Zero means 1 MiB.
	MaxConnOutput int
	// WriteTimeout bounds one write to a connection; a client that does not
	// read for that long is disconnected. Zero means 20 s (C xenstored's
	// watch-event timeout).
	WriteTimeout time.Duration

	// MaxDomainConns bounds the connections open at once on one domain's
	// socket (a real guest has a single ring). Zero means 32.
	MaxDomainConns int

	// Logf, if set, receives one line per notable event (a dropped client,
	// a bad message, a domain introduced or released).
	Logf func(format string, args ...any)

	// DomainLogf, if set, receives instead of Logf the lines a domain's
	// own connections cause and can repeat at will (a connection refused,
	// a message too long, a client that stops reading), with that
	// domain's id, so that the embedding process rate-limits them with
	// its other per-domain lines (internal/hostlog). Unset, the server
	// limits them itself, with hostlog's defaults, before Logf.
	DomainLogf func(domid uint32, format string, args ...any)

	// OnIntroduce and OnRelease, if set, are called after a domain was
	// introduced or released (by a request or by Introduce/Release), from
	// the goroutine that did it, with no lock held. They may use the store
	// through a client; they should not block for long.
	OnIntroduce func(Domain)
	OnRelease   func(Domain)
}
