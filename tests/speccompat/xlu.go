// Package speccompat runs the real libxlutil (Debian's 4.17, through cgo)
// beside xfeat's parser/devspec on the same inputs and compares everything
// they produce: accept/reject, every field of the parsed disk, the exact
// error text, and the vif rate arithmetic. It exists only for its tests.
package speccompat

/*
#cgo LDFLAGS: -lxlutil -lxenlight
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxl.h>
#include <libxlutil.h>

static XLU_Config *new_cfg(char **buf, size_t *len, FILE **f) {
	*f = open_memstream(buf, len);
	if (!*f) return NULL;
	return xlu_cfg_init(*f, "command line");
}

static int xf_disk_parse(int n, const char *const *specs, libxl_device_disk *disk, char **report) {
	char *buf = NULL; size_t len = 0; FILE *f;
	XLU_Config *cfg = new_cfg(&buf, &len, &f);
	int rc;
	if (!cfg) return -1;
	libxl_device_disk_init(disk);
	rc = xlu_disk_parse(cfg, n, specs, disk);
	xlu_cfg_destroy(cfg);
	fclose(f);
	*report = buf;
	return rc;
}

static int xf_rate_parse(const char *rate, uint64_t *bytes, uint32_t *usecs, char **report) {
	char *buf = NULL; size_t len = 0; FILE *f;
	XLU_Config *cfg = new_cfg(&buf, &len, &f);
	libxl_device_nic nic;
	int rc;
	if (!cfg) return -1;
	libxl_device_nic_init(&nic);
	errno = 0;
	rc = xlu_vif_parse_rate(cfg, rate, &nic);
	*bytes = nic.rate_bytes_per_interval;
	*usecs = nic.rate_interval_usecs;
	libxl_device_nic_dispose(&nic);
	xlu_cfg_destroy(cfg);
	fclose(f);
	*report = buf;
	return rc;
}

static int xf_defbool(libxl_defbool b) {
	if (libxl_defbool_is_default(b)) return 0;
	return libxl_defbool_val(b) ? 1 : -1;
}
*/
import "C"

import (
	"unsafe"

	"github.com/xfeat/xfeat/parser/devspec"
)

// RealDisk is what the real xlu_disk_parse produced.
type RealDisk struct {
	RC     int
	Report string // everything printed to the report stream
	Disk   devspec.DiskXL
}

func goStr(p *C.char) *string {
	if p == nil {
		return nil
	}
	s := C.GoString(p)
	return &s
}

// ParseDiskReal calls libxlutil's xlu_disk_parse on specs (none may contain
// a NUL byte).
func ParseDiskReal(specs []string) RealDisk {
	n := len(specs)
	arr := (**C.char)(C.malloc(C.size_t(max(n, 1)) * C.size_t(unsafe.Sizeof(uintptr(0)))))
	defer C.free(unsafe.Pointer(arr))
	cs := unsafe.Slice(arr, max(n, 1))
	for i, s := range specs {
		cs[i] = C.CString(s)
	}
	defer func() {
		for i := range specs {
			C.free(unsafe.Pointer(cs[i]))
		}
	}()
	var disk C.libxl_device_disk
	var report *C.char
	rc := C.xf_disk_parse(C.int(n), arr, &disk, &report)
	defer C.libxl_device_disk_dispose(&disk)
	defer C.free(unsafe.Pointer(report))
	r := RealDisk{RC: int(rc), Report: C.GoString(report)}
	r.Disk = devspec.DiskXL{
		PdevPath:       goStr(disk.pdev_path),
		Vdev:           goStr(disk.vdev),
		Script:         goStr(disk.script),
		BackendDomname: goStr(disk.backend_domname),
		Format:         devspec.DiskFormat(disk.format),
		Backend:        devspec.DiskBackend(disk.backend),
		Specification:  devspec.DiskSpecification(disk.specification),
		Readwrite:      int(disk.readwrite),
		IsCdrom:        int(disk.is_cdrom),
		Removable:      int(disk.removable),
		DirectIOSafe:   bool(disk.direct_io_safe),
		DiscardEnable:  devspec.Defbool(C.xf_defbool(disk.discard_enable)),
		ColoEnable:     devspec.Defbool(C.xf_defbool(disk.colo_enable)),
		ColoHost:       goStr(disk.colo_host),
		ColoPort:       int32(disk.colo_port),
		ColoExport:     goStr(disk.colo_export),
		ActiveDisk:     goStr(disk.active_disk),
		HiddenDisk:     goStr(disk.hidden_disk),
		Trusted:        devspec.Defbool(C.xf_defbool(disk.trusted)),
		// 4.17's libxl_device_disk has no grant_usage.
	}
	return r
}

// RealRate is what the real xlu_vif_parse_rate produced.
type RealRate struct {
	RC               int
	Report           string
	BytesPerInterval uint64
	IntervalUsecs    uint32
}

// ParseRateReal calls libxlutil's xlu_vif_parse_rate.
func ParseRateReal(rate string) RealRate {
	cs := C.CString(rate)
	defer C.free(unsafe.Pointer(cs))
	var b C.uint64_t
	var u C.uint32_t
	var report *C.char
	rc := C.xf_rate_parse(cs, &b, &u, &report)
	defer C.free(unsafe.Pointer(report))
	return RealRate{RC: int(rc), Report: C.GoString(report), BytesPerInterval: uint64(b), IntervalUsecs: uint32(u)}
}
