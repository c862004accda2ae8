// Package toolstack is what xfeat's domain commands do against XenStore: find
// it (discover.go), plan a domain from a checked xl.cfg, create the domain
// and its vif/vbd devices (create.go) and wait for every device to reach
// Connected (wait.go), tear domains down (destroy.go), list them
// (domain.go), and collect what `xfeat show` puts side by side for one
// device (show.go; offer.go for a backend without a schema).
//
// A plan is made in four steps, one file each: plan.go reads the checked
// config into devices; check.go checks each device and its requests
// against the schema its backend advertises (schema.Decide: what the
// backend will do with each); budget.go fits the devices in the domain's
// grant table, memory, event channels and XenStore node quota, lowering
// what the file leaves open or refusing it; layout.go lays the domain out
// as libxl does, with libxl's permissions plus config-<feature> nodes only
// the backend may read.
//
// Where a feature enters and leaves: a request enters as a
// devspec.FeatureRequest (NewPlan), is checked (check.go), counted
// (budget.go) and leaves as the config-<feature> node (layout.go, written by
// Create). It comes back in Show, with what the backend advertised (its
// schema), decided (its decision node), put into effect (its key) and what
// the guest negotiated (the frontend's key), and leaves as the verdict
// schema.Rule.Judge gives.
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
