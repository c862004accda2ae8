// Package vdevcompat calls libxl's own vdev numbering
// (libxl__device_disk_dev_number) beside devspec.VdevNumber. The function
// is internal to libxl (hidden in libxenlight.so), so this package links
// Debian's static libxenlight.a; it is separate from package speccompat,
// which links the shared libraries, so that the two never meet in one binary.
package vdevcompat

/*
#cgo LDFLAGS: -Wl,-Bstatic -lxenlight -Wl,-Bdynamic -lxenguest -lxenctrl -lxenstore -lxenevtchn -lxengnttab -lxenforeignmemory -lxendevicemodel -lxencall -lxenhypfs -lxentoolcore -lxentoollog -l:libyajl.so.2 -l:libuuid.so.1 -lutil -lpthread
#include <stdlib.h>
int libxl__device_disk_dev_number(const char *virtpath, int *pdisk, int *ppartition);
*/
import "C"

import "unsafe"

// DevNumber returns libxl's virtual-device number for vdev (negative:
// libxl rejects it).
func DevNumber(vdev string) int {
	cs := C.CString(vdev)
	defer C.free(unsafe.Pointer(cs))
	return int(C.libxl__device_disk_dev_number(cs, nil, nil))
}
