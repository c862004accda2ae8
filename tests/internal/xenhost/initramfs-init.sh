#!/bin/sh
# dom0's first stage: mount this machine's / (virtio-9p tag "hostroot",
# read-only) under a tmpfs overlay and switch_root into $xenhost_init (from
# the kernel command line), a path inside that /.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
while read -r ko; do insmod "$ko" || echo "xenhost: insmod $ko failed"; done < /lib/modules/load
fail() { echo "xenhost: $*; powering off"; echo o > /proc/sysrq-trigger; sleep 60; }
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 hostroot /host || fail "cannot mount hostroot"
mount -t tmpfs -o size=1g tmpfs /upper || fail "cannot mount tmpfs"
mkdir -p /upper/u /upper/w
mount -t overlay overlay -o lowerdir=/host,upperdir=/upper/u,workdir=/upper/w /new || fail "cannot mount overlay"
[ -x "/new$xenhost_init" ] || fail "no executable $xenhost_init in this machine's /"
umount /proc /sys /dev
exec switch_root /new "$xenhost_init"
