package pv

import (
	"strconv"
	"strings"
)

// The XenStore paths of a domain and its devices, as libxl lays them out
// (tools/libs/light/libxl_device.c, docs/misc/xenstore-paths.pandoc) and as
// xfeat adds to them. <be> is the backend domain, <fe> the frontend (guest)
// domain.
//
//	/local/domain/<id>                                   DomainPath
//	/local/domain/<fe>/device/<kind>/<devid>             FrontendPath (the guest's)
//	/local/domain/<be>/backend/<kind>/<fe>/<devid>       BackendPath (the backend's)
//	    config-<feature>                                 a request (ConfigKey): backend only
//	/local/domain/<be>/backend/<kind>/features/          SchemaDir: what the backend advertises
//	/local/domain/<dom>/error/<device dir below home>/   ErrorDir: a driver's xenbus error node,
//	    error                                              ErrorNode: the message, for people
//	    feature/<feature>                                  DecisionNode: a backend's decision
//	/libxl/<fe>/device/<kind>/<devid>                    ShadowPath: the toolstack's own record
//	    frontend, backend                                  the two directories

func id(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

// DomainPath is a domain's home, /local/domain/<domid>.
func DomainPath(domid uint32) string { return "/local/domain/" + id(domid) }

// LibxlPath is the toolstack's private directory of a domain, /libxl/<domid>.
func LibxlPath(domid uint32) string { return "/libxl/" + id(domid) }

// FrontendRoot is where a guest's devices of one kind live:
// /local/domain/<fe>/device/<kind>.
func FrontendRoot(fe uint32, kind Kind) string { return DomainPath(fe) + "/device/" + string(kind) }

// FrontendPath is the frontend directory of a device, owned by the guest:
// /local/domain/<fe>/device/<kind>/<devid>.
func FrontendPath(fe uint32, kind Kind, devid uint32) string {
	return FrontendRoot(fe, kind) + "/" + id(devid)
}

// BackendRoot is where a backend domain's devices of one kind live:
// /local/domain/<be>/backend/<kind>.
func BackendRoot(be uint32, kind Kind) string { return DomainPath(be) + "/backend/" + string(kind) }

// BackendGuestDir holds one guest's devices of one kind under a backend:
// /local/domain/<be>/backend/<kind>/<fe>.
func BackendGuestDir(be uint32, kind Kind, fe uint32) string {
	return BackendRoot(be, kind) + "/" + id(fe)
}

// BackendPath is the backend directory of a device, owned by the backend:
// /local/domain/<be>/backend/<kind>/<fe>/<devid>.
func BackendPath(be uint32, kind Kind, fe, devid uint32) string {
	return BackendGuestDir(be, kind, fe) + "/" + id(devid)
}

// SchemaDir is where a backend domain advertises its feature schema for one
// device kind: /local/domain/<be>/backend/<kind>/features (package schema
// reads and writes what is in it).
func SchemaDir(be uint32, kind Kind) string { return BackendRoot(be, kind) + "/features" }

// ShadowPath is the toolstack's trusted record of a device,
// /libxl/<fe>/device/<kind>/<devid>, holding KeyFrontend and KeyBackend:
// a backend is located through it, never through the frontend directory,
// which the guest may rewrite.
func ShadowPath(fe uint32, kind Kind, devid uint32) string {
	return ShadowRoot(fe, kind) + "/" + id(devid)
}

// ShadowRoot holds the toolstack's records of a guest's devices of one kind:
// /libxl/<fe>/device/<kind>.
func ShadowRoot(fe uint32, kind Kind) string { return LibxlPath(fe) + "/device/" + string(kind) }

// ErrorDir is the directory a driver of domain dom writes about the device
// whose directory is devDir (a path under dom's home), as Linux's
// xenbus_dev_error does: /local/domain/<dom>/error/<devDir relative to the
// home>. For a backend that is .../error/backend/<kind>/<fe>/<devid>, for a
// frontend .../error/device/<kind>/<devid>. It holds ErrorNode and, for a
// backend, its DecisionNodes; removing it clears both. devDir outside the
// home yields "".
func ErrorDir(dom uint32, devDir string) string {
	home := DomainPath(dom) + "/"
	rel, ok := strings.CutPrefix(devDir, home)
	if !ok || rel == "" {
		return ""
	}
	return home + "error/" + rel
}

// ErrorNode is the xenbus error node in ErrorDir: one message for people
// ("" when devDir is outside dom's home).
func ErrorNode(dom uint32, devDir string) string {
	if d := ErrorDir(dom, devDir); d != "" {
		return d + "/" + KeyError
	}
	return ""
}

// DecisionDir holds a backend's decisions on a device's requests: the
// "feature" directory of its ErrorDir ("" when devDir is outside be's home).
func DecisionDir(be uint32, devDir string) string {
	if d := ErrorDir(be, devDir); d != "" {
		return d + "/" + dirFeature
	}
	return ""
}

// DecisionNode is where a backend records what it did with the request for
// feature (package schema defines the value): DecisionDir/<feature>.
func DecisionNode(be uint32, devDir, feature string) string {
	if d := DecisionDir(be, devDir); d != "" {
		return d + "/" + feature
	}
	return ""
}

const dirFeature = "feature"

// ConfigPrefix prefixes a request node: the toolstack writes
// config-<feature> in a device's backend directory, readable by the backend
// only.
const ConfigPrefix = "config-"

// ConfigKey is the request node of feature, relative to the backend
// directory.
func ConfigKey(feature string) string { return ConfigPrefix + feature }

// QueueDir is the directory of queue i's transport keys under a frontend
// directory with n queues (netif.h, blkif.h): the directory itself when
// there is one queue, queue-<i> below it otherwise.
func QueueDir(frontend string, i, n int) string {
	if n <= 1 {
		return frontend
	}
	return frontend + "/" + QueueKey(i)
}

// QueuePrefix starts the name of a queue's directory (queue-0, queue-1, ...).
const QueuePrefix = "queue-"

// QueueKey is the name of queue i's directory below a frontend directory.
func QueueKey(i int) string { return QueuePrefix + strconv.Itoa(i) }

// SandboxMarker is the node the sandbox host writes when it starts
// serving (its value: the host's run directory), owned by domain 0: a
// XenStore that holds it is the sandbox host's, where xfeat create builds
// domains itself; any other is a real Xen host's, whose domains xl builds
// (toolstack.DetectHost). It lies under /tool, which only domain 0 may
// write, as C xenstored's own /tool/xenstored does.
const SandboxMarker = "/tool/xfeat/sandbox"
