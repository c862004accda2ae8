package pv

import "strconv"

// Keys of the device directories, relative to the directory. Each is spelled
// here only; the comment on each group names where it is defined.

// xenbus keys of both directories (xenbus.h; xenstore-paths.pandoc).
const (
	KeyState      = "state"       // both: the end's XenbusState
	KeyOnline     = "online"      // backend: 0 asks the backend to close
	KeyFrontend   = "frontend"    // backend (and shadow): the frontend directory
	KeyFrontendID = "frontend-id" // backend: the guest's domid
	KeyBackend    = "backend"     // frontend (and shadow): the backend directory
	KeyBackendID  = "backend-id"  // frontend: the backend's domid
	KeyError      = "error"       // in an ErrorDir: the message
)

// netif.h: what netback offers (backend directory) and what netfront answers
// (frontend directory; the transport keys per queue under queue-N when there
// are several queues).
const (
	KeyMultiQueueMaxQueues  = "multi-queue-max-queues" // backend: most queues (blkif.h too)
	KeyMultiQueueNumQueues  = "multi-queue-num-queues" // frontend: queues used (blkif.h too)
	KeyFeatureSG            = "feature-sg"
	KeyFeatureGSOTCPv4      = "feature-gso-tcpv4"
	KeyFeatureGSOTCPv6      = "feature-gso-tcpv6"
	KeyFeatureIPv6CsumOffl  = "feature-ipv6-csum-offload"
	KeyFeatureNoCsumOffload = "feature-no-csum-offload"
	KeyFeatureSplitEvtchns  = "feature-split-event-channels"
	KeyFeatureMulticastCtl  = "feature-multicast-control"
	KeyFeatureDynMulticast  = "feature-dynamic-multicast-control"
	KeyFeatureCtrlRing      = "feature-ctrl-ring"
	KeyFeatureRxCopy        = "feature-rx-copy"
	KeyFeatureRxFlip        = "feature-rx-flip"
	KeyFeatureRxNotify      = "feature-rx-notify" // frontend
	KeyRequestRxCopy        = "request-rx-copy"   // frontend
	KeyRequestMulticastCtl  = "request-multicast-control"
	KeyTxRingRef            = "tx-ring-ref"      // frontend, per queue
	KeyRxRingRef            = "rx-ring-ref"      // frontend, per queue
	KeyEventChannel         = "event-channel"    // frontend, per queue (blkif.h too)
	KeyEventChannelTx       = "event-channel-tx" // frontend, per queue, split channels
	KeyEventChannelRx       = "event-channel-rx" // frontend, per queue, split channels
	KeyCtrlRingRef          = "ctrl-ring-ref"    // frontend
)

// blkif.h: what blkback offers and publishes (backend directory) and what
// blkfront answers (frontend directory).
const (
	KeyMaxRingPageOrder       = "max-ring-page-order" // backend
	KeyRingPageOrder          = "ring-page-order"     // frontend
	KeyRingRef                = "ring-ref"            // frontend, per queue (RingRefKey)
	KeyFeaturePersistent      = "feature-persistent"  // both
	KeyFeatureMaxIndirectSegs = "feature-max-indirect-segments"
	KeyFeatureFlushCache      = "feature-flush-cache"
	KeyFeatureBarrier         = "feature-barrier"
	KeyFeatureDiscard         = "feature-discard"
	KeyDiscardGranularity     = "discard-granularity"
	KeyDiscardAlignment       = "discard-alignment"
	KeyDiscardSecure          = "discard-secure"
	KeySectors                = "sectors"
	KeySectorSize             = "sector-size"
	KeyPhysicalSectorSize     = "physical-sector-size"
	KeyInfo                   = "info"
	KeyProtocol               = "protocol" // frontend: the ring ABI, ProtocolX8664
	KeyVirtualDevice          = "virtual-device"
)

// ProtocolX8664 is the only ring ABI (KeyProtocol) xfeat's block ends use.
const ProtocolX8664 = "x86_64-abi"

// RingRefKey is the name of page k's grant reference of a block ring of
// 2^order pages: ring-ref for one page, ring-ref<k> otherwise (blkif.h).
func RingRefKey(order uint32, k int) string {
	if order == 0 {
		return KeyRingRef
	}
	return KeyRingRef + strconv.Itoa(k)
}

// libxl's keys of a device (libxl_device.c, libxl_nic.c, libxl_disk.c,
// xl-network-configuration(5)): written by the toolstack, read by the
// backend (and the frontend, where noted).
const (
	KeyHandle        = "handle" // vif, both directories
	KeyMAC           = "mac"    // vif, both directories
	KeyTrusted       = "trusted"
	KeyMTU           = "mtu" // vif, both directories
	KeyBridge        = "bridge"
	KeyVifname       = "vifname"
	KeyIP            = "ip"
	KeyRate          = "rate" // <bytes>,<microseconds>
	KeyVlan          = "vlan"
	KeyForwarddev    = "forwarddev"
	KeyGatewaydev    = "gatewaydev"
	KeyScript        = "script"
	KeyType          = "type"
	KeyParams        = "params" // vbd: the image
	KeyMode          = "mode"   // vbd: r or w
	KeyDeviceType    = "device-type"
	KeyRemovable     = "removable"
	KeyBootable      = "bootable"
	KeyDev           = "dev"
	KeyDiscardEnable = "discard-enable"
	KeyDirectIOSafe  = "direct-io-safe"
	KeySpecification = "specification"
)

// Bool is how a boolean key is written: "1" or "0" (netif.h and blkif.h
// define every feature-* flag so; readers take any non-zero number).
func Bool(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// A domain's own keys, in its home /local/domain/<id>
// (xenstore-paths.pandoc).
const (
	KeyDomid = "domid" // the domain's id; relative to its home, a connection's own
)

// Keys a hotplug script writes in a device's backend directory (Xen's
// tools/hotplug/Linux: block, vif-common.sh, xen-hotplug-common.sh).
const (
	KeyPhysicalDevice = "physical-device" // vbd: the block device, major:minor in hex
	KeyHotplugStatus  = "hotplug-status"  // "connected" once the script succeeded
)
