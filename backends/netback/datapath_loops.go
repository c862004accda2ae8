package netback

import (
	"github.com/xfeat/xfeat/backends/grant"
	"github.com/xfeat/xfeat/backends/ring"
	"github.com/xfeat/xfeat/backends/tap"
)

// txState is the tx goroutine's scratch, allocated once: a ring's worth of
// copied requests (a packet may be split across two reads), the responses
// of one batch, the copy ops of one packet and one frame buffer.
type txState struct {
	reqs    []ring.NetifTxRequest
	rsps    []ring.NetifTxResponse
	ops     []grant.CopyOp
	buf     []byte
	pending int
}

func newTxState(q *Queue) *txState {
	return &txState{
		reqs: make([]ring.NetifTxRequest, q.Tx.Size()),
		rsps: make([]ring.NetifTxResponse, 0, q.Tx.Size()),
		ops:  make([]grant.CopyOp, maxTxSlots),
		buf:  make([]byte, bufSize),
	}
}

// txLoop moves the guest's packets from the tx ring to the TAP queue.
func (qp *queuePath) txLoop() {
	vp, q := qp.vp, qp.q
	st := newTxState(q)
	for !vp.stopping.Load() {
		got, ok := qp.txPoll(st)
		if !ok {
			return
		}
		if got == 0 {
			more, err := q.Tx.FinalCheckForRequests()
			if err != nil {
				vp.fail("queue %d tx ring: %v", q.Index, err)
				return
			}
			if !more && !qp.waitOn(qp.txWait, qp.txWake) {
				return
			}
		}
	}
}

// txPoll takes the requests posted so far, handles every complete packet,
// responds and notifies. got is the number of requests taken; ok false
// means the device was failed.
func (qp *queuePath) txPoll(st *txState) (got int, ok bool) {
	vp, q := qp.vp, qp.q
	got, err := q.Tx.NextRequests(st.reqs[st.pending:])
	if err != nil {
		vp.fail("queue %d tx ring: %v", q.Index, err)
		return 0, false
	}
	st.pending += got
	done := 0
	for done < st.pending {
		used, ok := qp.txPacket(st.reqs[done:st.pending], st.buf, st.ops, &st.rsps)
		if !ok {
			return got, false
		}
		if used == 0 {
			break // the rest of this packet is not posted yet
		}
		done += used
	}
	copy(st.reqs, st.reqs[done:st.pending])
	st.pending -= done
	if len(st.rsps) > 0 {
		q.Tx.PutResponses(st.rsps)
		st.rsps = st.rsps[:0]
		if q.Tx.PushResponses() {
			qp.txNote.Notify()
		}
	}
	return got, true
}

// txPacket handles the packet at the head of reqs. used is the number of
// requests it took (0: the packet is not complete yet); ok false means the
// device was failed.
func (qp *queuePath) txPacket(reqs []ring.NetifTxRequest, buf []byte, ops []grant.CopyOp, rsps *[]ring.NetifTxResponse) (used int, ok bool) {
	vp, q := qp.vp, qp.q
	neg := &vp.v.Negotiated
	first := &reqs[0]
	k := 1
	var gsoSize uint16
	var gsoType uint8
	if first.Flags&ring.NetTxfExtraInfo != 0 {
		for more := true; more; {
			if k > maxExtras {
				vp.fail("queue %d: more than %d extra info slots in one packet", q.Index, maxExtras)
				return 0, false
			}
			if k >= len(reqs) {
				return 0, true
			}
			e := reqs[k].Extra()
			k++
			more = e.Flags&ring.NetifExtraFlagMore != 0
			switch e.Type {
			case ring.NetifExtraTypeGSO:
				size, typ, _ := e.GSO()
				switch {
				case typ == ring.NetifGSOTypeTCPv4 && neg.GSOTCPv4, typ == ring.NetifGSOTypeTCPv6 && neg.GSOTCPv6:
				default:
					vp.fail("queue %d: GSO type %d was not negotiated", q.Index, typ)
					return 0, false
				}
				if size == 0 {
					vp.fail("queue %d: GSO with segment size 0", q.Index)
					return 0, false
				}
				gsoSize, gsoType = size, typ
			case ring.NetifExtraTypeMcastAdd, ring.NetifExtraTypeMcastDel:
				// Filtering is not offered; the list is ignored.
			default:
				vp.fail("queue %d: extra info type %d", q.Index, e.Type)
				return 0, false
			}
		}
	}
	extrasEnd := k
	slots := 1
	for flags := first.Flags; flags&ring.NetTxfMoreData != 0; slots++ {
		if slots >= maxTxSlots {
			vp.fail("queue %d: a packet uses more than %d slots", q.Index, maxTxSlots)
			return 0, false
		}
		if k >= len(reqs) {
			return 0, true
		}
		flags = reqs[k].Flags
		k++
	}
	if slots > 1 && !neg.SG {
		vp.fail("queue %d: a packet in %d slots without feature-sg", q.Index, slots)
		return 0, false
	}
	used = k
	// Sizes: the first request carries the packet's total size, the rest
	// their own; the first fragment is what remains.
	total := int(first.Size)
	rest := 0
	for i := extrasEnd; i < k; i++ {
		r := &reqs[i]
		if int(r.Offset)+int(r.Size) > grant.PageSize {
			vp.fail("queue %d: fragment at offset %d size %d crosses its page", q.Index, r.Offset, r.Size)
			return 0, false
		}
		rest += int(r.Size)
	}
	status := int16(ring.NetifRspOkay)
	firstLen := total - rest
	switch {
	case total < 14 || firstLen <= 0:
		status = ring.NetifRspError // empty, too short, or fragments beyond the total
		q.Stats.TxDropped.Add(1)
	case int(first.Offset)+firstLen > grant.PageSize:
		vp.fail("queue %d: first fragment at offset %d size %d crosses its page", q.Index, first.Offset, firstLen)
		return 0, false
	}
	if status == ring.NetifRspOkay && vp.limit != nil && !vp.limit.take(total, vp.stop) {
		return 0, false
	}
	hl := 0
	if vp.dev.VnetHdr {
		hl = tap.VnetHdrLen
	}
	if status == ring.NetifRspOkay {
		n := 0
		ops[n] = grant.CopyOp{Src: grant.CopyPtr{Ref: grant.Ref(first.Gref), Offset: first.Offset}, Dst: grant.CopyPtr{Local: buf[hl:]}, Len: uint16(firstLen)}
		n++
		pos := hl + firstLen
		for i := extrasEnd; i < k; i++ {
			r := &reqs[i]
			ops[n] = grant.CopyOp{Src: grant.CopyPtr{Ref: grant.Ref(r.Gref), Offset: r.Offset}, Dst: grant.CopyPtr{Local: buf[pos:]}, Len: r.Size}
			n++
			pos += int(r.Size)
		}
		if vp.copier.Copy(ops[:n]) > 0 {
			status = ring.NetifRspError
			q.Stats.TxErrors.Add(1)
		}
		for i := range ops[:n] {
			ops[i] = grant.CopyOp{} // hold no reference to buf
		}
	}
	if status == ring.NetifRspOkay {
		if qp.emit(buf, hl, total, first.Flags, gsoSize, gsoType) {
			q.Stats.TxPackets.Add(1)
			q.Stats.TxBytes.Add(uint64(total))
		} else {
			q.Stats.TxDropped.Add(1)
		}
	}
	// Responses in request order: the packet's first request, NULL for
	// each extra slot, then the fragments.
	*rsps = append(*rsps, ring.NetifTxResponse{ID: first.ID, Status: status})
	for i := 1; i < extrasEnd; i++ {
		*rsps = append(*rsps, ring.NetifTxResponse{Status: ring.NetifRspNull})
	}
	for i := extrasEnd; i < k; i++ {
		*rsps = append(*rsps, ring.NetifTxResponse{ID: reqs[i].ID, Status: status})
	}
	return used, true
}

// emit writes a copied frame to the TAP with the offloads its flags ask
// for; false means it was dropped.
func (qp *queuePath) emit(buf []byte, hl, total int, flags uint16, gsoSize uint16, gsoType uint8) bool {
	pkt := buf[hl : hl+total]
	blank := flags&ring.NetTxfCsumBlank != 0
	var l4 tap.L4
	if blank || gsoType != 0 {
		var ok bool
		if l4, ok = tap.FindL4(pkt); !ok {
			return false // a partial checksum or GSO with no TCP/UDP header to find
		}
	}
	if hl == 0 {
		if blank && !tap.CompleteChecksum(pkt, l4.Start, l4.CsumOff) {
			return false
		}
	} else {
		var h tap.VnetHdr
		switch {
		case blank:
			h.Flags = tap.VnetFlagNeedsCsum
			h.CsumStart, h.CsumOffset = uint16(l4.Start), uint16(l4.CsumOff)
		case flags&ring.NetTxfDataValidated != 0:
			h.Flags = tap.VnetFlagDataValid
		}
		if gsoType != 0 {
			if l4.Proto != 6 || l4.IPv6 != (gsoType == ring.NetifGSOTypeTCPv6) {
				return false
			}
			h.GSOType = tap.VnetGSOTCPv4
			if l4.IPv6 {
				h.GSOType = tap.VnetGSOTCPv6
			}
			h.GSOSize, h.HdrLen = gsoSize, uint16(l4.HdrLen)
			h.Flags = tap.VnetFlagNeedsCsum
			h.CsumStart, h.CsumOffset = uint16(l4.Start), uint16(l4.CsumOff)
		}
		h.Encode(buf)
	}
	_, err := qp.file.Write(buf[:hl+total])
	return err == nil
}

// rxState is the rx goroutine's scratch, allocated once.
type rxState struct {
	buf  []byte
	reqs []ring.NetifRxRequest
	rsps []ring.NetifRxResponse
	ops  []grant.CopyOp
	hl   int
}

func (qp *queuePath) newRxState() *rxState {
	st := &rxState{
		buf:  make([]byte, bufSize),
		reqs: make([]ring.NetifRxRequest, maxRxSlots),
		rsps: make([]ring.NetifRxResponse, maxRxSlots),
		ops:  make([]grant.CopyOp, maxRxSlots),
	}
	if qp.vp.dev.VnetHdr {
		st.hl = tap.VnetHdrLen
	}
	return st
}

// rxLoop moves frames from the TAP queue to the guest's rx ring.
func (qp *queuePath) rxLoop() {
	vp, q := qp.vp, qp.q
	st := qp.newRxState()
	for {
		n, err := qp.file.Read(st.buf)
		if err != nil {
			if !vp.stopping.Load() && !tap.IsClosed(err) {
				vp.t.logf("%s: queue %d: reading %s: %v", &vp.v.Device, q.Index, vp.dev.Name, err)
			}
			return
		}
		if !qp.rxDeliver(st, n) {
			return
		}
	}
}

// rxDeliver hands the frame in st.buf[:n] (behind its virtio-net header,
// if any) to the guest; false means stop (stopped or failed).
func (qp *queuePath) rxDeliver(st *rxState, n int) bool {
	vp, q := qp.vp, qp.q
	neg := &vp.v.Negotiated
	buf, reqs, rsps, ops, hl := st.buf, st.reqs, st.rsps, st.ops, st.hl
	{
		if n <= hl {
			return true
		}
		pkt := buf[hl:n]
		var h tap.VnetHdr
		if hl > 0 {
			h.Decode(buf)
		}
		var rflags uint16
		gso := h.GSOType &^ tap.VnetGSOECN
		var gsoType uint8
		switch gso {
		case tap.VnetGSONone:
		case tap.VnetGSOTCPv4:
			gsoType = ring.NetifGSOTypeTCPv4
		case tap.VnetGSOTCPv6:
			gsoType = ring.NetifGSOTypeTCPv6
		default:
			q.Stats.RxDropped.Add(1)
			return true
		}
		if (gsoType == ring.NetifGSOTypeTCPv4 && !neg.GSOTCPv4) || (gsoType == ring.NetifGSOTypeTCPv6 && !neg.GSOTCPv6) {
			q.Stats.RxDropped.Add(1)
			return true
		}
		if h.Flags&tap.VnetFlagNeedsCsum != 0 {
			l4, _ := tap.FindL4(pkt)
			if gsoType == 0 && ((l4.IPv6 && !neg.IPv6CsumOffload) || (!l4.IPv6 && neg.NoCsumOffload)) {
				// The frontend cannot take a blank checksum of this family.
				if !tap.CompleteChecksum(pkt, int(h.CsumStart), int(h.CsumOffset)) {
					q.Stats.RxDropped.Add(1)
					return true
				}
				rflags = ring.NetRxfDataValidated
			} else {
				rflags = ring.NetRxfCsumBlank | ring.NetRxfDataValidated
			}
		} else if h.Flags&tap.VnetFlagDataValid != 0 {
			rflags = ring.NetRxfDataValidated
		}
		data := (len(pkt) + grant.PageSize - 1) / grant.PageSize
		if data > 1 && !neg.SG {
			q.Stats.RxDropped.Add(1)
			return true
		}
		need := data
		if gsoType != 0 {
			need++
		}
		// Wait for the frontend to post enough buffers; the kernel's
		// queue behind us holds (and drops) what arrives meanwhile.
		for {
			avail, err := q.Rx.Unconsumed()
			if err != nil {
				vp.fail("queue %d rx ring: %v", q.Index, err)
				return false
			}
			if int(avail) >= need {
				break
			}
			// Sleep until the frontend posts again (and look once more
			// after asking, as RING_FINAL_CHECK_FOR_REQUESTS does).
			askForRequests(qp.rxMem)
			if avail, err = q.Rx.Unconsumed(); err == nil && int(avail) >= need {
				break
			}
			if !qp.waitOn(qp.rxWait, qp.rxWake) {
				return false
			}
		}
		got, err := q.Rx.NextRequests(reqs[:need])
		if err != nil || got != need {
			vp.fail("queue %d rx ring: %v", q.Index, err)
			return false
		}
		// Data slots: the first request, then (after the GSO extra slot)
		// one page each.
		nops := 0
		for i, off := 0, 0; i < data; i++ {
			r := &reqs[i]
			if i > 0 && gsoType != 0 {
				r = &reqs[i+1]
			}
			l := min(grant.PageSize, len(pkt)-off)
			ops[nops] = grant.CopyOp{Src: grant.CopyPtr{Local: pkt[off : off+l]}, Dst: grant.CopyPtr{Ref: grant.Ref(r.Gref)}, Len: uint16(l)}
			nops++
			off += l
		}
		failed := vp.copier.Copy(ops[:nops]) > 0
		for i := range ops[:nops] {
			ops[i] = grant.CopyOp{}
		}
		if failed {
			for i := 0; i < need; i++ {
				rsps[i] = ring.NetifRxResponse{ID: reqs[i].ID, Status: ring.NetifRspError}
			}
			q.Stats.RxErrors.Add(1)
		} else {
			off := 0
			for i, s := 0, 0; i < data; i++ {
				l := min(grant.PageSize, len(pkt)-off)
				f := uint16(0)
				if i == 0 {
					f = rflags
					if gsoType != 0 {
						f |= ring.NetRxfExtraInfo
					}
				}
				if i < data-1 {
					f |= ring.NetRxfMoreData
				}
				rsps[s] = ring.NetifRxResponse{ID: reqs[s].ID, Flags: f, Status: int16(l)}
				s++
				if i == 0 && gsoType != 0 {
					rsps[s] = ring.NetifRxResponse{}
					rsps[s].Extra().SetGSO(h.GSOSize, gsoType, 0)
					s++
				}
				off += l
			}
			q.Stats.RxPackets.Add(1)
			q.Stats.RxBytes.Add(uint64(len(pkt)))
		}
		q.Rx.PutResponses(rsps[:need])
		if q.Rx.PushResponses() {
			qp.rxNote.Notify()
		}
	}
	return true
}
