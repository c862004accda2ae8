/*
 * hvmcaps.so: preloaded into libvirtd (LD_PRELOAD) on the test host, it
 * adds Xen's HVM guest capabilities ("hvm-3.0-x86_32 hvm-3.0-x86_32p
 * hvm-3.0-x86_64", what Xen reports on a host with VMX or SVM) to the
 * capability string libxl_get_version_info returns.
 *
 * Why: the test host is Xen under QEMU's TCG, which has no VMX, so Xen
 * offers PV guests only and libvirt's libxl driver, which derives its
 * guest types from that string, refuses to convert an HVM or PVH xl.cfg
 * ("could not find capabilities for ostype=hvm"). Its converter
 * (domxml-from-native xen-xl) reads the string for nothing else: with this
 * shim it converts HVM and PVH configs as on a host with hardware
 * virtualisation. No guest is started under it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxl.h>

static const char extra[] = " hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64";

const libxl_version_info *libxl_get_version_info(libxl_ctx *ctx)
{
	static const libxl_version_info *(*real)(libxl_ctx *);
	static const char *made; /* the string this shim made last */
	libxl_version_info *info;
	char *caps;

	if (!real)
		real = (const libxl_version_info *(*)(libxl_ctx *))dlsym(RTLD_NEXT, "libxl_get_version_info");
	if (!real)
		return NULL;
	/* libxl keeps the answer in ctx and frees it with ctx: the string
	 * may be replaced by one of malloc's. libvirt splits it in place
	 * (strtok), so a string once made is not looked into again. */
	info = (libxl_version_info *)real(ctx);
	if (!info || !info->capabilities || info->capabilities == made || strstr(info->capabilities, "hvm-"))
		return info;
	caps = malloc(strlen(info->capabilities) + sizeof(extra));
	if (!caps)
		return info;
	strcpy(caps, info->capabilities);
	strcat(caps, extra);
	free(info->capabilities);
	info->capabilities = caps;
	made = caps;
	return info;
}
