// Package toolstack is what xfeat's domain commands do against XenStore: find
// it, plan a domain from a checked xl.cfg (features validated against the
// schema each backend advertises; the devices fitted in the domain's grant
// table, memory, event channels and XenStore node quota, lowering what the
// file leaves open or refusing it: budget.go),
// create the domain and its vif/vbd devices with libxl's layout and
// permissions plus config-<feature> nodes only the backend may read, wait for
// every device to reach Connected, tear domains down, list them, and collect
// what `xfeat show` puts side by side for one device.
//
// Invariants:
//   - Nothing is written before the whole plan is valid: a bad value, an
//     unknown feature, a backend without schema or a blown budget is found
//     while only reading.
//   - Create either returns a domain whose devices are all Connected or
//     leaves nothing behind: every node it wrote is removed and the domain is
//     released, whatever failed (a write, a timeout, a cancelled context).
//   - The domid is claimed in a transaction (/libxl/<id>), so concurrent
//     creators never share an id or a name; every other write of a domain
//     happens in one transaction too, so a backend never sees half a device.
//   - config-<feature> nodes carry the permissions [n<backend>]: the guest
//     can neither read nor write them. Frontend and backend directories carry
//     libxl's permissions (tools/libs/light/libxl_device.c,
//     libxl__device_generic_add: the frontend's owned by the guest and
//     readable by the backend, the backend's the other way round; see
//     docs/design.md, "Creating and destroying a domain").
//   - What the toolstack reads back from a frontend directory (owned by the
//     guest) is never trusted for locating a backend: the libxl shadow under
//     /libxl/<domid>/device is.
package toolstack
