package pv

// Kind is a PV device class as it appears in XenStore paths
// (/local/domain/<be>/backend/<kind>/..., device/<kind>/...).
type Kind string

// The device kinds xfeat knows.
const (
	Vif Kind = "vif" // network interface (netif.h)
	Vbd Kind = "vbd" // block device (blkif.h)
)

// Kinds lists the device kinds in the order commands show them.
var Kinds = []Kind{Vif, Vbd}
