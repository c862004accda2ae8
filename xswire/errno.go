package xswire

import (
	"io/fs"
	"syscall"
)

// The errno names of xs_wire.h's xsd_errors table, as an ERROR reply spells
// them (plus EQUOTA, which oxenstored sends for a quota).
const (
	EINVAL    = "EINVAL"
	EACCES    = "EACCES"
	EEXIST    = "EEXIST"
	EISDIR    = "EISDIR"
	ENOENT    = "ENOENT"
	ENOMEM    = "ENOMEM"
	ENOSPC    = "ENOSPC"
	EIO       = "EIO"
	ENOTEMPTY = "ENOTEMPTY"
	ENOSYS    = "ENOSYS"
	EROFS     = "EROFS"
	EBUSY     = "EBUSY"
	EAGAIN    = "EAGAIN"
	EISCONN   = "EISCONN"
	E2BIG     = "E2BIG"
	EPERM     = "EPERM"
	EQUOTA    = "EQUOTA"
)

// Error is an error reply from xenstored: Errno is the errno name the daemon
// sent ("ENOENT", "EACCES", "EAGAIN", ...), Op and Path say what failed.
//
// errors.Is(err, xswire.ErrNotFound) and friends compare by Errno only, so
// they match any *Error with that errno. ENOENT also matches fs.ErrNotExist,
// EACCES and EPERM match fs.ErrPermission, EEXIST matches fs.ErrExist.
type Error struct {
	Errno string
	Op    string // request type, e.g. "READ"; empty for a sentinel
	Path  string // first argument of the request, when there is one
}

func (e *Error) Error() string {
	msg := e.Errno
	if se, ok := errnoNumbers[e.Errno]; ok {
		msg += " (" + se.Error() + ")"
	}
	switch {
	case e.Op == "":
		return "xenstore: " + msg
	case e.Path == "":
		return "xenstore " + e.Op + ": " + msg
	}
	return "xenstore " + e.Op + " " + e.Path + ": " + msg
}

// Is reports whether target is an *Error with the same errno (quota errors
// match each other: C xenstored says ENOSPC, oxenstored says EQUOTA), or the
// io/fs sentinel for it.
func (e *Error) Is(target error) bool {
	switch t := target.(type) {
	case *Error:
		if isQuota(e.Errno) && isQuota(t.Errno) {
			return true
		}
		return t.Errno == e.Errno
	}
	switch target {
	case fs.ErrNotExist:
		return e.Errno == ENOENT
	case fs.ErrPermission:
		return e.Errno == EACCES || e.Errno == EPERM
	case fs.ErrExist:
		return e.Errno == EEXIST
	}
	return false
}

func isQuota(s string) bool { return s == ENOSPC || s == EQUOTA }

// Syscall returns the Linux errno for e, or EINVAL for a name libxenstore
// would not know either (libxenstore maps unknown strings to EINVAL).
func (e *Error) Syscall() syscall.Errno {
	if n, ok := errnoNumbers[e.Errno]; ok {
		return n
	}
	return syscall.EINVAL
}

// errnoNumbers is xs_wire.h's xsd_errors table with the Linux numbers.
var errnoNumbers = map[string]syscall.Errno{
	EINVAL: syscall.EINVAL, EACCES: syscall.EACCES, EEXIST: syscall.EEXIST,
	EISDIR: syscall.EISDIR, ENOENT: syscall.ENOENT, ENOMEM: syscall.ENOMEM,
	ENOSPC: syscall.ENOSPC, EIO: syscall.EIO, ENOTEMPTY: syscall.ENOTEMPTY,
	ENOSYS: syscall.ENOSYS, EROFS: syscall.EROFS, EBUSY: syscall.EBUSY,
	EAGAIN: syscall.EAGAIN, EISCONN: syscall.EISCONN, E2BIG: syscall.E2BIG,
	EPERM: syscall.EPERM,
}

// Sentinels for errors.Is. They match any *Error with the same Errno.
var (
	ErrInvalid      = &Error{Errno: EINVAL}
	ErrPermission   = &Error{Errno: EACCES}
	ErrExist        = &Error{Errno: EEXIST}
	ErrIsDir        = &Error{Errno: EISDIR}
	ErrNotFound     = &Error{Errno: ENOENT}
	ErrNoMem        = &Error{Errno: ENOMEM}
	ErrQuota        = &Error{Errno: ENOSPC} // also matches EQUOTA
	ErrIO           = &Error{Errno: EIO}
	ErrNotEmpty     = &Error{Errno: ENOTEMPTY}
	ErrNoSys        = &Error{Errno: ENOSYS}
	ErrReadOnly     = &Error{Errno: EROFS}
	ErrBusy         = &Error{Errno: EBUSY}
	ErrAgain        = &Error{Errno: EAGAIN}
	ErrIsConn       = &Error{Errno: EISCONN}
	ErrTooBig       = &Error{Errno: E2BIG}
	ErrNotPermitted = &Error{Errno: EPERM}
)

// ErrnoName returns the xs_wire.h name of a Linux errno ("ENOENT"), or
// "EINVAL" when the table has none, which is what C xenstored sends then.
func ErrnoName(n syscall.Errno) string {
	for name, v := range errnoNumbers {
		if v == n {
			return name
		}
	}
	return EINVAL
}
