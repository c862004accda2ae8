package toolstack

import (
	"strconv"

	"github.com/xfeat/xfeat/xswire"
)

// Device kinds, as they appear in XenStore paths.
const (
	KindVif = "vif"
	KindVbd = "vbd"
)

// XenbusState values (xen/io/xenbus.h).
const (
	StateUnknown      = 0
	StateInitialising = 1
	StateInitWait     = 2
	StateInitialised  = 3
	StateConnected    = 4
	StateClosing      = 5
	StateClosed       = 6
)

var stateNames = []string{"Unknown", "Initialising", "InitWait", "Initialised", "Connected", "Closing", "Closed", "Reconfiguring", "Reconfigured"}

// StateName names a XenbusState; -1 (no state node) is "absent".
func StateName(s int) string {
	if s < 0 {
		return "absent"
	}
	if s < len(stateNames) {
		return stateNames[s]
	}
	return "state " + strconv.Itoa(s)
}

// MaxDomid is the largest id a guest may get (DOMID_FIRST_RESERVED - 1).
const MaxDomid = xswire.DomidFirstReserved - 1

func u(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

// DomainPath is a domain's home, /local/domain/<domid>.
func DomainPath(domid uint32) string { return "/local/domain/" + u(domid) }

// LibxlPath is the toolstack's private directory of a domain, /libxl/<domid>.
func LibxlPath(domid uint32) string { return "/libxl/" + u(domid) }

// FrontendPath is /local/domain/<fe>/device/<kind>/<devid>.
func FrontendPath(fe uint32, kind string, devid uint32) string {
	return DomainPath(fe) + "/device/" + kind + "/" + u(devid)
}

// BackendPath is /local/domain/<be>/backend/<kind>/<fe>/<devid>.
func BackendPath(be uint32, kind string, fe, devid uint32) string {
	return DomainPath(be) + "/backend/" + kind + "/" + u(fe) + "/" + u(devid)
}

// ErrorPath is the directory of the xenbus error node a backend writes for a
// device: /local/domain/<be>/error/backend/<kind>/<fe>/<devid> (its "error"
// key holds the message).
func ErrorPath(be uint32, kind string, fe, devid uint32) string {
	return DomainPath(be) + "/error/backend/" + kind + "/" + u(fe) + "/" + u(devid)
}

// ShadowPath is libxl's trusted copy of a device, /libxl/<fe>/device/<kind>/<devid>.
func ShadowPath(fe uint32, kind string, devid uint32) string {
	return LibxlPath(fe) + "/device/" + kind + "/" + u(devid)
}

// FrontendErrorPath is the directory of the xenbus error node a frontend
// writes for a device: /local/domain/<fe>/error/device/<kind>/<devid> (its
// "error" key holds the message; the guest writes it, so it is untrusted).
func FrontendErrorPath(fe uint32, kind string, devid uint32) string {
	return DomainPath(fe) + "/error/device/" + kind + "/" + u(devid)
}
