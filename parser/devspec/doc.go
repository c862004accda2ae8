// Package devspec reads the device specs of an xl.cfg file — the strings of
// `vif = [...]` and `disk = [...]` — exactly as xl and libxlutil read them,
// plus xfeat's feature requests, and checks a whole parsed file (devices and
// the domain keys xfeat depends on) for `xfeat validate` and `xfeat create`.
//
// Two layers, kept apart so that the first can be compared with the real
// library:
//
//   - the libxlutil-compatible layer: ParseDiskXL reproduces
//     xlu_disk_parse (the flex rules of libxlu_disk_l.l, in order, longest
//     match and trailing context included) and yields a DiskXL with libxl's
//     fields; ParseRate reproduces xlu_vif_parse_rate; VdevNumber
//     reproduces libxl's vdev to virtual-device number encoding. The vif
//     spec splitting (strtok on ',', leading spaces skipped, key= prefix
//     match) reproduces xl's parse_nic_config.
//   - xfeat's layer: ParseVif and ParseDisk add the feature keys (shorthands
//     such as queues=, and features=NAME:VALUE;...) and positions, and turn
//     what xl merely warns about (an unknown key, a bad mac= or type= in a
//     domain config) into errors with a did-you-mean suggestion. It also
//     refuses what xl passes on but nothing downstream can use (names.go):
//     a control character or invalid UTF-8 in a spec or in the domain's
//     name, and an interface name (bridge=, vifname=, ...) Linux refuses.
//
// Where a feature enters and leaves: a request enters as a key of a spec
// string, a shorthand (queues=2: features.go's table maps it to the
// protocol key pv.KeyMultiQueueMaxQueues) or an item of
// features=NAME:VALUE, and leaves as a FeatureRequest (the protocol name,
// the value, how it was spelled and where) in Vif.Features or
// Disk.Features; booleans are normalised to 0/1 here, everything else is
// typed against the backend's schema later (toolstack).
//
// Invariants: parsing never panics on any input; a spec is accepted by
// ParseDisk only if libxlutil (current tree) accepts it once its feature
// keys are removed; every diagnostic carries a Subject range inside the
// spec text (mapped to the file by Options.Where).
package devspec
