package main

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// A guest's XenStore connection on C xenstored is its xenbus ring: one page
// of the guest's memory (struct xenstore_domain_interface in
// xen/io/xs_wire.h) that C xenstored maps and serves. The driver plays the
// guest: the guest is created paused (xl create -p), so its kernel never
// runs and never touches the ring, and dom0 maps the same page through the
// grant the domain builder left for the XenStore domain
// (GNTTAB_RESERVED_XENSTORE) with the gntdev driver, as C xenstored itself
// does. The driver cannot raise the guest's event channel; C xenstored
// looks at every domain's ring on each pass of its main loop, so a request
// on a socket connection of its own (poke) makes it read the ring.

// Layout of struct xenstore_domain_interface.
const (
	ringSize     = 1024 // XENSTORE_RING_SIZE
	offReq       = 0
	offRsp       = ringSize
	offReqCons   = 2 * ringSize
	offReqProd   = offReqCons + 4
	offRspCons   = offReqCons + 8
	offRspProd   = offReqCons + 12
	grantXSRef   = 1 // GNTTAB_RESERVED_XENSTORE
	pageSize     = 4096
	gntdevMapRef = 0x184700 // IOCTL_GNTDEV_MAP_GRANT_REF: _IOC(_IOC_NONE, 'G', 0, 24)
)

// gntdevMap is struct ioctl_gntdev_map_grant_ref with one reference.
type gntdevMap struct {
	Count uint32
	Pad   uint32
	Index uint64
	Domid uint32
	Ref   uint32
}

// ringEnd is a guest's end of its xenbus ring with C xenstored.
type ringEnd struct {
	dev   *os.File
	page  []byte
	poke  func() error
	inbuf []byte // response bytes taken off the ring, not yet a whole frame
}

// mapRing maps domid's XenStore ring page.
func mapRing(domid uint32, poke func() error) (*ringEnd, error) {
	dev, err := os.OpenFile("/dev/xen/gntdev", os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	m := gntdevMap{Count: 1, Domid: domid, Ref: grantXSRef}
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, dev.Fd(), gntdevMapRef, uintptr(unsafe.Pointer(&m))); e != 0 {
		dev.Close()
		return nil, fmt.Errorf("gntdev: map domain %d's grant %d: %w", domid, grantXSRef, e)
	}
	page, err := syscall.Mmap(int(dev.Fd()), int64(m.Index), pageSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		dev.Close()
		return nil, fmt.Errorf("gntdev: mmap domain %d's ring: %w", domid, err)
	}
	return &ringEnd{dev: dev, page: page, poke: poke}, nil
}

func (r *ringEnd) idx(off int) *uint32 { return (*uint32)(unsafe.Pointer(&r.page[off])) }

// send puts b on the request ring (waiting for room) and pokes C xenstored.
func (r *ringEnd) send(b []byte) error {
	deadline := time.Now().Add(10 * time.Second)
	for len(b) > 0 {
		cons := atomic.LoadUint32(r.idx(offReqCons))
		prod := atomic.LoadUint32(r.idx(offReqProd))
		free := ringSize - int(prod-cons)
		if free <= 0 {
			if time.Now().After(deadline) {
				return errors.New("ring: request ring full for 10 s")
			}
			if err := r.poke(); err != nil {
				return err
			}
			continue
		}
		n := 0
		for n < free && n < len(b) {
			r.page[offReq+int((prod+uint32(n))%ringSize)] = b[n]
			n++
		}
		// The atomic store orders the bytes before the index (x86: a
		// plain store is released; the compiler must not reorder).
		atomic.StoreUint32(r.idx(offReqProd), prod+uint32(n))
		b = b[n:]
	}
	return r.poke()
}

// recv returns the next whole message on the response ring, poking C
// xenstored while there is none, for at most timeout.
func (r *ringEnd) recv(timeout time.Duration) (frame, error) {
	deadline := time.Now().Add(timeout)
	for {
		r.take()
		f, n, ok, err := decodeFrame(r.inbuf)
		if err != nil {
			return frame{}, err
		}
		if ok {
			r.inbuf = append(r.inbuf[:0], r.inbuf[n:]...)
			return f, nil
		}
		if time.Now().After(deadline) {
			return frame{}, errTimeout
		}
		if err := r.poke(); err != nil {
			return frame{}, err
		}
	}
}

// pending reports whether a message (or part of one) is waiting.
func (r *ringEnd) pending() bool {
	r.take()
	return len(r.inbuf) > 0
}

// discard drops whatever the response ring holds.
func (r *ringEnd) discard() {
	r.take()
	r.inbuf = r.inbuf[:0]
}

// take moves whatever the response ring holds into inbuf.
func (r *ringEnd) take() {
	cons := atomic.LoadUint32(r.idx(offRspCons))
	prod := atomic.LoadUint32(r.idx(offRspProd))
	for ; cons != prod; cons++ {
		r.inbuf = append(r.inbuf, r.page[offRsp+int(cons%ringSize)])
	}
	atomic.StoreUint32(r.idx(offRspCons), cons)
}

func (r *ringEnd) close() {
	syscall.Munmap(r.page)
	r.dev.Close()
}
