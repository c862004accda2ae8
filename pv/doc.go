// Package pv is the vocabulary of Xen's paravirtual device protocols as xfeat
// speaks them over XenStore: every path, state, device kind and key that more
// than one package writes or reads is defined here, once, and everything else
// refers to it.
//
//   - Device kinds (Kind: vif, vbd), as they appear in XenStore paths.
//   - XenbusState (State), xen/include/public/io/xenbus.h, and its decimal
//     form in a state node (ParseState).
//   - Paths (paths.go): a domain's home, the frontend and backend
//     directories libxl lays out (tools/libs/light/libxl_device.c), the
//     toolstack's trusted shadow of a device under /libxl, the xenbus error
//     node a driver writes (Linux's xenbus_dev_error), the directory of a
//     backend's feature schema, a request node (config-<feature>) and the
//     decision node a backend records for it.
//   - Keys (keys.go): the xenbus keys of a device directory, the keys of
//     netif.h and blkif.h, and the libxl keys the toolstack writes for a
//     backend to read.
//
// The package does no I/O and imports nothing of xfeat: it only names
// things. What a feature's keys mean at each stage (which one the backend
// writes, which one the guest answers with) is schema.Rules'; what a
// backend decides about a request is schema.Decide's.
package pv
