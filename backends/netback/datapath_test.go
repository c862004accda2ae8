package netback

import (
	"bytes"
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xfeat/xfeat/backends/grant"
	"github.com/xfeat/xfeat/backends/ring"
	"github.com/xfeat/xfeat/backends/tap"
)

// Fast tests of the data path's steps on real rings and a real grant table
// (in a temporary directory), with a fake TAP queue and fake event
// channels. tests/net runs the same code on real TAP devices.

type fakeChannel struct{ notified atomic.Int64 }

func (c *fakeChannel) Port() uint32 { return 1 }
func (c *fakeChannel) Notify() error {
	c.notified.Add(1)
	return nil
}
func (c *fakeChannel) Wait(time.Duration) (uint32, error) { select {} }
func (c *fakeChannel) Kick()                              {}
func (c *fakeChannel) Close() error                       { return nil }

// fakeTap is one TAP queue: writes are kept (in a preallocated buffer),
// reads are not used (tests call rxDeliver).
type fakeTap struct {
	frame  []byte
	n      int
	writes int
}

func (f *fakeTap) Read([]byte) (int, error) { select {} }
func (f *fakeTap) Write(b []byte) (int, error) {
	f.n = copy(f.frame, b)
	f.writes++
	return len(b), nil
}

type mapperCopier struct{ m *grant.Mapper }

func (c mapperCopier) Copy(ops []grant.CopyOp) int { return c.m.Copy(ops) }
func (c mapperCopier) Close() error                { return nil }

// rig is one queue of one vif with the guest's side played by the test.
type rig struct {
	qp      *queuePath
	txFront *ring.NetifTxFront
	rxFront *ring.NetifRxFront
	guest   *grant.Domain
	tap     *fakeTap
	ch      *fakeChannel
	txRefs  []uint32 // tx buffer pages, granted read-only
	rxRefs  []uint32 // rx buffer pages, granted writable
}

const rigPages = 64

func newRig(t testing.TB, neg Negotiated, vnet bool) *rig {
	t.Helper()
	g := newGuestPages(t)
	return g.rig(t, neg, vnet)
}

// guestPages is a guest's memory and grant table with rigPages tx buffers
// granted read-only and rigPages rx buffers granted writable to dom0.
type guestPages struct {
	dom            *grant.Domain
	txRefs, rxRefs []uint32
}

func newGuestPages(t testing.TB) *guestPages {
	t.Helper()
	dom, err := grant.CreateDomain(t.TempDir(), 1, 2*rigPages, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dom.Close() })
	g := &guestPages{dom: dom}
	for i := 0; i < rigPages; i++ {
		ref, err := dom.GrantAccess(0, uint32(i), true)
		if err != nil {
			t.Fatal(err)
		}
		g.txRefs = append(g.txRefs, uint32(ref))
		ref, err = dom.GrantAccess(0, uint32(rigPages+i), false)
		if err != nil {
			t.Fatal(err)
		}
		g.rxRefs = append(g.rxRefs, uint32(ref))
	}
	return g
}

// rig makes fresh rings and a fresh queue over the guest's pages.
func (g *guestPages) rig(t testing.TB, neg Negotiated, vnet bool) *rig {
	t.Helper()
	txMem, rxMem := make([]byte, 4096), make([]byte, 4096)
	r := &rig{guest: g.dom, tap: &fakeTap{frame: make([]byte, bufSize)}, ch: &fakeChannel{}, txRefs: g.txRefs, rxRefs: g.rxRefs}
	var err error
	if r.txFront, err = ring.NewNetifTxFront(txMem); err != nil {
		t.Fatal(err)
	}
	if r.rxFront, err = ring.NewNetifRxFront(rxMem); err != nil {
		t.Fatal(err)
	}
	txBack, _ := ring.NewNetifTxBack(txMem)
	rxBack, _ := ring.NewNetifRxBack(rxMem)
	v := &Vif{Negotiated: neg}
	vp := &vifPath{t: &TapPath{}, v: v, dev: &tap.Device{VnetHdr: vnet}, copier: mapperCopier{grant.NewMapper(0, g.dom)}, stop: make(chan struct{})}
	q := &Queue{Tx: txBack, Rx: rxBack, TxChannel: r.ch}
	r.qp = &queuePath{vp: vp, q: q, file: r.tap, txWake: make(chan struct{}, 1), rxWake: make(chan struct{}, 1), txNote: r.ch, rxNote: r.ch, rxMem: rxMem}
	return r
}

// tcpFrame is an Ethernet/IPv4/TCP frame of n bytes with a partial
// checksum, as a guest with checksum offload hands it over.
func tcpFrame(n int) []byte {
	f := make([]byte, n)
	copy(f[0:], []byte{0x00, 0x16, 0x3e, 0, 0, 2, 0x00, 0x16, 0x3e, 0, 0, 1, 0x08, 0x00})
	ip := f[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(n-14))
	ip[8], ip[9] = 64, 6
	copy(ip[12:], []byte{198, 18, 0, 1, 198, 18, 0, 2})
	tcp := ip[20:]
	binary.BigEndian.PutUint16(tcp[0:], 40000)
	binary.BigEndian.PutUint16(tcp[2:], 5201)
	tcp[12] = 5 << 4
	for i := 54; i < n; i++ {
		f[i] = byte(i)
	}
	return f
}

// postTx puts frame into tx pages and posts it (with a GSO extra slot if
// gsoSize > 0).
func (r *rig) postTx(t testing.TB, frame []byte, flags uint16, gsoSize uint16) {
	t.Helper()
	pages := (len(frame) + 4095) / 4096
	for i := 0; i < pages; i++ {
		pg, _ := r.guest.Page(uint32(i))
		chunk := frame[i*4096 : min(len(frame), (i+1)*4096)]
		copy(pg, chunk)
		req, err := r.txFront.ProduceRequest()
		if err != nil {
			t.Fatal(err)
		}
		*req = ring.NetifTxRequest{Gref: r.txRefs[i], ID: uint16(i), Size: uint16(len(chunk))}
		if i == 0 {
			req.Size = uint16(len(frame))
			req.Flags = flags
			if gsoSize > 0 {
				req.Flags |= ring.NetTxfExtraInfo
			}
		}
		if i < pages-1 {
			req.Flags |= ring.NetTxfMoreData
		}
		if i == 0 && gsoSize > 0 {
			e, _ := r.txFront.ProduceRequest()
			*e = ring.NetifTxRequest{}
			e.Extra().SetGSO(gsoSize, ring.NetifGSOTypeTCPv4, 0)
		}
	}
	r.txFront.PushRequests()
}

func TestTxGSOFrameReachesTapWithVnetHeader(t *testing.T) {
	r := newRig(t, Negotiated{SG: true, GSOTCPv4: true}, true)
	frame := tcpFrame(3*4096 + 100)
	r.postTx(t, frame, ring.NetTxfCsumBlank|ring.NetTxfDataValidated, 1448)
	st := newTxState(r.qp.q)
	if got, ok := r.qp.txPoll(st); !ok || got != 5 {
		t.Fatalf("txPoll took %d requests (ok %v), want 5 (4 data + 1 extra)", got, ok)
	}
	if r.tap.writes != 1 {
		t.Fatalf("%d writes to the TAP, want 1", r.tap.writes)
	}
	var h tap.VnetHdr
	h.Decode(r.tap.frame)
	want := tap.VnetHdr{Flags: tap.VnetFlagNeedsCsum, GSOType: tap.VnetGSOTCPv4, HdrLen: 54, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	if h != want {
		t.Fatalf("virtio-net header %+v, want %+v", h, want)
	}
	if !bytes.Equal(r.tap.frame[tap.VnetHdrLen:r.tap.n], frame) {
		t.Fatal("the frame on the TAP differs from the guest's")
	}
	var rsps []ring.NetifTxResponse
	for {
		var rsp ring.NetifTxResponse
		ok, _ := r.txFront.NextResponse(&rsp)
		if !ok {
			break
		}
		rsps = append(rsps, rsp)
	}
	wantStatus := []int16{0, ring.NetifRspNull, 0, 0, 0}
	if len(rsps) != len(wantStatus) {
		t.Fatalf("%d responses, want %d", len(rsps), len(wantStatus))
	}
	for i, rsp := range rsps {
		if rsp.Status != wantStatus[i] {
			t.Errorf("response %d: %+v, want status %d", i, rsp, wantStatus[i])
		}
	}
}

func TestTxWithoutOffloadsCompletesChecksum(t *testing.T) {
	r := newRig(t, Negotiated{}, false)
	frame := tcpFrame(200)
	r.postTx(t, frame, ring.NetTxfCsumBlank, 0)
	if _, ok := r.qp.txPoll(newTxState(r.qp.q)); !ok || r.tap.writes != 1 {
		t.Fatalf("ok %v, writes %d", ok, r.tap.writes)
	}
	got := r.tap.frame[:r.tap.n]
	if len(got) != len(frame) {
		t.Fatalf("no virtio-net header expected: %d bytes, want %d", len(got), len(frame))
	}
	// The one's complement sum over the TCP segment (with the field
	// filled) must now be 0xffff: the checksum is complete.
	var sum uint32
	seg := got[34:]
	for i := 0; i+1 < len(seg); i += 2 {
		sum += uint32(seg[i])<<8 | uint32(seg[i+1])
	}
	if len(seg)%2 == 1 {
		sum += uint32(seg[len(seg)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	if sum != 0xffff {
		t.Fatalf("checksum not completed: folded sum %#x", sum)
	}
}

// postRx tops the rx ring up to n posted buffers.
func (r *rig) postRx(n int) {
	for i := 0; i < n && r.rxFront.Free() > 0; i++ {
		req, _ := r.rxFront.ProduceRequest()
		*req = ring.NetifRxRequest{ID: uint16(i), Gref: r.rxRefs[i%rigPages]}
	}
	r.rxFront.PushRequests()
}

func TestRxGSOFrameFillsSlotsWithExtraInfo(t *testing.T) {
	r := newRig(t, Negotiated{SG: true, GSOTCPv4: true}, true)
	r.postRx(8)
	st := r.qp.newRxState()
	frame := tcpFrame(2*4096 + 10)
	h := tap.VnetHdr{Flags: tap.VnetFlagNeedsCsum, GSOType: tap.VnetGSOTCPv4, GSOSize: 1448, HdrLen: 54, CsumStart: 34, CsumOffset: 16}
	h.Encode(st.buf)
	n := copy(st.buf[tap.VnetHdrLen:], frame) + tap.VnetHdrLen
	if !r.qp.rxDeliver(st, n) {
		t.Fatal("rxDeliver stopped")
	}
	var rsps [4]ring.NetifRxResponse
	got, _ := r.rxFront.NextResponses(rsps[:])
	if got != 4 {
		t.Fatalf("%d responses, want 4 (3 data slots + 1 extra)", got)
	}
	if f := rsps[0].Flags; f != ring.NetRxfCsumBlank|ring.NetRxfDataValidated|ring.NetRxfExtraInfo|ring.NetRxfMoreData || rsps[0].Status != 4096 {
		t.Fatalf("first response %+v", rsps[0])
	}
	if size, typ, _ := rsps[1].Extra().GSO(); rsps[1].Extra().Type != ring.NetifExtraTypeGSO || size != 1448 || typ != ring.NetifGSOTypeTCPv4 {
		t.Fatalf("extra slot %+v", rsps[1])
	}
	if rsps[2].Status != 4096 || rsps[2].Flags != ring.NetRxfMoreData || rsps[3].Status != 10 || rsps[3].Flags != 0 {
		t.Fatalf("fragments %+v %+v", rsps[2], rsps[3])
	}
	// The data went into the pages of slots 0, 2 and 3 (slot 1 is the
	// extra), in the same slots as the requests.
	var got2 []byte
	for _, slot := range []int{0, 2, 3} {
		pg, _ := r.guest.Page(uint32(rigPages + slot))
		got2 = append(got2, pg[:rsps[slot].Status]...)
	}
	if !bytes.Equal(got2, frame) {
		t.Fatal("the guest's pages do not hold the frame")
	}
}

// TestHotPathAllocatesNothing: one packet each way, 64 bytes and 64 KiB,
// costs no allocation.
func TestHotPathAllocatesNothing(t *testing.T) {
	for _, size := range []int{64, 65000} {
		r := newRig(t, Negotiated{SG: true, GSOTCPv4: true}, true)
		frame := tcpFrame(size)
		st := newTxState(r.qp.q)
		var rsps [32]ring.NetifTxResponse
		gso := uint16(0)
		if size > 1500 {
			gso = 1448
		}
		if a := testing.AllocsPerRun(200, func() {
			r.postTx(t, frame, ring.NetTxfCsumBlank, gso)
			r.qp.txPoll(st)
			r.txFront.NextResponses(rsps[:])
		}); a != 0 {
			t.Errorf("tx of %d bytes: %v allocations per packet", size, a)
		}
		rs := r.qp.newRxState()
		h := tap.VnetHdr{Flags: tap.VnetFlagNeedsCsum, CsumStart: 34, CsumOffset: 16}
		if gso != 0 {
			h.GSOType, h.GSOSize, h.HdrLen = tap.VnetGSOTCPv4, gso, 54
		}
		h.Encode(rs.buf)
		n := copy(rs.buf[tap.VnetHdrLen:], frame) + tap.VnetHdrLen
		var rx [32]ring.NetifRxResponse
		if a := testing.AllocsPerRun(200, func() {
			r.postRx(18)
			r.qp.rxDeliver(rs, n)
			got, _ := r.rxFront.NextResponses(rx[:])
			_ = got
		}); a != 0 {
			t.Errorf("rx of %d bytes: %v allocations per packet", size, a)
		}
	}
}

func benchTx(b *testing.B, size int) {
	r := newRig(b, Negotiated{SG: true, GSOTCPv4: true}, true)
	frame := tcpFrame(size)
	gso := uint16(0)
	if size > 1500 {
		gso = 1448
	}
	st := newTxState(r.qp.q)
	var rsps [32]ring.NetifTxResponse
	b.ReportAllocs()
	b.SetBytes(int64(size))
	for b.Loop() {
		r.postTx(b, frame, ring.NetTxfCsumBlank, gso)
		r.qp.txPoll(st)
		r.txFront.NextResponses(rsps[:])
	}
}

func benchRx(b *testing.B, size int) {
	r := newRig(b, Negotiated{SG: true, GSOTCPv4: true}, true)
	rs := r.qp.newRxState()
	h := tap.VnetHdr{Flags: tap.VnetFlagNeedsCsum, CsumStart: 34, CsumOffset: 16}
	if size > 1500 {
		h.GSOType, h.GSOSize, h.HdrLen = tap.VnetGSOTCPv4, 1448, 54
	}
	h.Encode(rs.buf)
	n := copy(rs.buf[tap.VnetHdrLen:], tcpFrame(size)) + tap.VnetHdrLen
	var rx [32]ring.NetifRxResponse
	b.ReportAllocs()
	b.SetBytes(int64(size))
	for b.Loop() {
		r.postRx(18)
		r.qp.rxDeliver(rs, n)
		r.rxFront.NextResponses(rx[:])
	}
}

// The backend's per-packet cost without the TAP syscall: ring handling,
// validation and grant copy (guest -> host and host -> guest).
func BenchmarkTxPacket64(b *testing.B)  { benchTx(b, 64) }
func BenchmarkTxPacket64K(b *testing.B) { benchTx(b, 65000) }
func BenchmarkRxPacket64(b *testing.B)  { benchRx(b, 64) }
func BenchmarkRxPacket64K(b *testing.B) { benchRx(b, 65000) }

// FuzzTxRequests: whatever a frontend puts on its tx ring (requests and
// extra slots as raw 12-byte entries, refs pointing at real, foreign or no
// grants), the backend never panics, never writes a frame larger than 64
// KiB to the TAP, answers at most one response per request, and either
// keeps the device or fails it.
func FuzzTxRequests(f *testing.F) {
	good := make([]byte, 12)
	binary.LittleEndian.PutUint16(good[10:], 60)
	f.Add(good, true)
	gso := append(append([]byte{}, good...), 1, 0, 0xa8, 0x05, 1, 0, 0, 0, 0, 0, 0, 0)
	binary.LittleEndian.PutUint16(gso[6:], ring.NetTxfExtraInfo|ring.NetTxfCsumBlank)
	f.Add(gso, true)
	f.Add(make([]byte, 12*20), false)
	g := newGuestPages(f)
	f.Fuzz(func(t *testing.T, raw []byte, vnet bool) {
		r := g.rig(t, Negotiated{SG: true, GSOTCPv4: true, GSOTCPv6: true}, vnet)
		n := min(len(raw)/12, 200)
		for i := 0; i < n; i++ {
			e := raw[i*12 : i*12+12]
			req, _ := r.txFront.ProduceRequest()
			*req = ring.NetifTxRequest{
				Gref:   binary.LittleEndian.Uint32(e[0:]) % (2*rigPages + 8),
				Offset: binary.LittleEndian.Uint16(e[4:]),
				Flags:  binary.LittleEndian.Uint16(e[6:]),
				ID:     binary.LittleEndian.Uint16(e[8:]),
				Size:   binary.LittleEndian.Uint16(e[10:]),
			}
		}
		r.txFront.PushRequests()
		st := newTxState(r.qp.q)
		for i := 0; i < 4; i++ {
			if _, ok := r.qp.txPoll(st); !ok {
				break
			}
		}
		if r.tap.writes > n || r.tap.n > tap.VnetHdrLen+65535 {
			t.Fatalf("%d writes (%d bytes) from %d requests", r.tap.writes, r.tap.n, n)
		}
		rsps := 0
		for {
			var rsp ring.NetifTxResponse
			ok, err := r.txFront.NextResponse(&rsp)
			if err != nil {
				t.Fatalf("the backend broke the response ring: %v", err)
			}
			if !ok {
				break
			}
			rsps++
		}
		if rsps > n {
			t.Fatalf("%d responses to %d requests", rsps, n)
		}
	})
}
