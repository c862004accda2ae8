package netfront

import (
	"github.com/xfeat/xfeat/backends/grant"
	"github.com/xfeat/xfeat/backends/ring"
	"github.com/xfeat/xfeat/backends/tap"
	"github.com/xfeat/xfeat/pv"
)

// txLoop: guest TAP -> tx ring.
func (fq *frontQueue) txLoop() {
	fp, q := fq.fp, fq.q
	f := fp.d.Features
	sg, v4csum, v6csum := f[pv.KeyFeatureSG], !f[pv.KeyFeatureNoCsumOffload], f[pv.KeyFeatureIPv6CsumOffl]
	pages := fq.txPages.Bytes()
	var free [netBufs]uint16
	var inUse [netBufs]bool
	nfree := 0
	for i := netBufs - 1; i >= 0; i-- {
		free[nfree] = uint16(i)
		nfree++
	}
	rsps := make([]ring.NetifTxResponse, q.Tx.Size())
	reclaim := func() bool {
		n, err := q.Tx.NextResponses(rsps)
		if err != nil {
			fp.t.logf("%s: queue %d tx ring: %v", &fp.d.dev, q.Index, err)
			return false
		}
		for _, r := range rsps[:n] {
			if r.Status == ring.NetifRspNull || int(r.ID) >= netBufs || !inUse[r.ID] {
				continue
			}
			inUse[r.ID] = false
			free[nfree] = r.ID
			nfree++
			if r.Status != ring.NetifRspOkay {
				fq.Stats.TxDropped.Add(1)
			}
		}
		return true
	}
	hl := 0
	if fp.dev.VnetHdr {
		hl = tap.VnetHdrLen
	}
	// A frame is read straight into buffer pages: as many as the largest
	// frame needs are taken before the read and the unused ones go back.
	maxPages := (frameMax + grant.PageSize - 1) / grant.PageSize
	if !sg {
		maxPages = 1
	}
	var ids [maxTxSlots]uint16
	var hdr [tap.VnetHdrLen]byte
	var overflow [1]byte // a frame reaching it did not fit: dropped
	buf := make([]byte, bufSize)
	v := fq.txVec
	for {
		for nfree < maxPages {
			if !reclaim() {
				return
			}
			if nfree >= maxPages {
				break
			}
			if n, _ := q.Tx.Unconsumed(); n > 0 {
				continue
			}
			more, err := q.Tx.FinalCheckForResponses()
			if err != nil {
				return
			}
			if !more && !fq.waitOn(fq.txWait, fq.txWake) {
				return
			}
		}
		if hl > 0 {
			v.add(hdr[:])
		}
		for i := 0; i < maxPages; i++ {
			nfree--
			ids[i] = free[nfree]
			v.add(pages[int(ids[i])*grant.PageSize : (int(ids[i])+1)*grant.PageSize])
		}
		v.add(overflow[:])
		n, err := v.readv()
		size := n - hl
		data := 0
		if err == nil && size > 0 && size < frameMax && size <= maxPages*grant.PageSize {
			data = (size + grant.PageSize - 1) / grant.PageSize
		}
		for i := maxPages - 1; i >= data; i-- { // unused pages go back
			free[nfree] = ids[i]
			nfree++
		}
		if err != nil {
			return
		}
		if data == 0 {
			if size > 0 {
				fq.Stats.TxDropped.Add(1)
			}
			continue
		}
		var h tap.VnetHdr
		if hl > 0 {
			h.Decode(hdr[:])
		}
		var flags uint16
		var gsoType uint8
		switch h.GSOType &^ tap.VnetGSOECN {
		case tap.VnetGSOTCPv4:
			gsoType = ring.NetifGSOTypeTCPv4
		case tap.VnetGSOTCPv6:
			gsoType = ring.NetifGSOTypeTCPv6
		}
		first := pages[int(ids[0])*grant.PageSize : int(ids[0])*grant.PageSize+min(size, grant.PageSize)]
		if h.Flags&tap.VnetFlagNeedsCsum != 0 {
			l4, _ := tap.FindL4(first)
			if gsoType == 0 && ((l4.IPv6 && !v6csum) || (!l4.IPv6 && !v4csum)) {
				// Not negotiated for this family: complete it here,
				// on a contiguous copy.
				if !fq.completeChecksum(buf, pages, ids[:data], size, h) {
					for i := data - 1; i >= 0; i-- {
						free[nfree] = ids[i]
						nfree++
					}
					fq.Stats.TxDropped.Add(1)
					continue
				}
				flags = ring.NetTxfDataValidated
			} else {
				flags = ring.NetTxfCsumBlank | ring.NetTxfDataValidated
			}
		} else if h.Flags&tap.VnetFlagDataValid != 0 {
			flags = ring.NetTxfDataValidated
		}
		slots := data
		if gsoType != 0 {
			slots++
		}
		// Ring slots for the whole packet (its pages are ours already).
		for int(q.Tx.Free()) < slots {
			if !reclaim() {
				return
			}
			if int(q.Tx.Free()) >= slots {
				break
			}
			if n, _ := q.Tx.Unconsumed(); n > 0 {
				continue
			}
			more, err := q.Tx.FinalCheckForResponses()
			if err != nil {
				return
			}
			if !more && !fq.waitOn(fq.txWait, fq.txWake) {
				return
			}
		}
		off := 0
		for i := 0; i < data; i++ {
			id := ids[i]
			inUse[id] = true
			l := min(grant.PageSize, size-off)
			r, _ := q.Tx.ProduceRequest()
			*r = ring.NetifTxRequest{Gref: fq.txRefs[id], ID: id, Size: uint16(l)}
			if i == 0 {
				r.Size = uint16(size)
				r.Flags = flags
				if gsoType != 0 {
					r.Flags |= ring.NetTxfExtraInfo
				}
			}
			if i < data-1 {
				r.Flags |= ring.NetTxfMoreData
			}
			if i == 0 && gsoType != 0 {
				e, _ := q.Tx.ProduceRequest()
				*e = ring.NetifTxRequest{}
				e.Extra().SetGSO(h.GSOSize, gsoType, 0)
			}
			off += l
		}
		fq.Stats.TxPackets.Add(1)
		fq.Stats.TxBytes.Add(uint64(size))
		if q.Tx.PushRequests() {
			fq.txNote.Notify()
		}
		if !reclaim() {
			return
		}
	}
}

// completeChecksum completes a partial checksum of a frame of size bytes
// held in the pages ids (in order): gathered into buf, completed, and the
// result scattered back.
func (fq *frontQueue) completeChecksum(buf, pages []byte, ids []uint16, size int, h tap.VnetHdr) bool {
	pos := 0
	for _, id := range ids {
		pos += copy(buf[pos:size], pages[int(id)*grant.PageSize:(int(id)+1)*grant.PageSize])
	}
	if !tap.CompleteChecksum(buf[:size], int(h.CsumStart), int(h.CsumOffset)) {
		return false
	}
	pos = 0
	for _, id := range ids {
		pos += copy(pages[int(id)*grant.PageSize:(int(id)+1)*grant.PageSize], buf[pos:size])
	}
	return true
}

// rxLoop: rx ring -> guest TAP.
func (fq *frontQueue) rxLoop() {
	fp, q := fq.fp, fq.q
	pages := fq.rxPages.Bytes()
	size := q.Rx.Size()
	if size > netBufs {
		size = netBufs
	}
	// Post every buffer: request i uses buffer i mod netBufs, and its
	// response comes back in the same slot.
	var reqProd, rspCons uint32
	for reqProd < size {
		r, _ := q.Rx.ProduceRequest()
		*r = ring.NetifRxRequest{ID: uint16(reqProd % netBufs), Gref: fq.rxRefs[reqProd%netBufs]}
		reqProd++
	}
	if q.Rx.PushRequests() {
		fq.rxNote.Notify()
	}
	hl := 0
	if fp.dev.VnetHdr {
		hl = tap.VnetHdrLen
	}
	buf := make([]byte, bufSize)
	rsps := make([]ring.NetifRxResponse, q.Rx.Size())
	pending := 0
	for !fp.stopping.Load() {
		got, err := q.Rx.NextResponses(rsps[pending:])
		if err != nil {
			fp.t.logf("%s: queue %d rx ring: %v", &fp.d.dev, q.Index, err)
			return
		}
		pending += got
		done := 0
		for done < pending {
			used := fq.rxPacket(rsps[done:pending], rspCons+uint32(done), pages, buf, hl)
			if used == 0 {
				break
			}
			done += used
		}
		copy(rsps, rsps[done:pending])
		pending -= done
		rspCons += uint32(done)
		for i := 0; i < done; i++ {
			r, _ := q.Rx.ProduceRequest()
			*r = ring.NetifRxRequest{ID: uint16(reqProd % netBufs), Gref: fq.rxRefs[reqProd%netBufs]}
			reqProd++
		}
		if done > 0 && q.Rx.PushRequests() {
			fq.rxNote.Notify()
		}
		if got == 0 {
			more, err := q.Rx.FinalCheckForResponses()
			if err != nil {
				return
			}
			if !more && !fq.waitOn(fq.rxWait, fq.rxWake) {
				return
			}
		}
	}
}

// rxPacket handles the packet at the head of rsps, whose first slot is
// ring index idx; it returns the slots used (0: not complete yet).
func (fq *frontQueue) rxPacket(rsps []ring.NetifRxResponse, idx uint32, pages, buf []byte, hl int) int {
	first := rsps[0]
	k := 1
	var gsoSize uint16
	var gsoType uint8
	if first.Status >= 0 && first.Flags&ring.NetRxfExtraInfo != 0 {
		for more := true; more; {
			if k >= len(rsps) {
				return 0
			}
			e := rsps[k].Extra()
			k++
			more = e.Flags&ring.NetifExtraFlagMore != 0
			if e.Type == ring.NetifExtraTypeGSO {
				gsoSize, gsoType, _ = e.GSO()
			}
			if k > 6 {
				break
			}
		}
	}
	dataIdx := [maxTxSlots + 1]uint32{idx}
	nd := 1
	bad := first.Status < 0
	for flags := first.Flags; flags&ring.NetRxfMoreData != 0; {
		if k >= len(rsps) {
			return 0
		}
		if nd < len(dataIdx) {
			dataIdx[nd] = idx + uint32(k)
		} else {
			bad = true
		}
		nd++
		flags = rsps[k].Flags
		if rsps[k].Status < 0 {
			bad = true
		}
		k++
	}
	if bad {
		fq.Stats.RxDropped.Add(1)
		return k
	}
	// Where each fragment is, checked against its page.
	var frags [maxTxSlots + 1][]byte
	total := 0
	for i := 0; i < nd; i++ {
		var r ring.NetifRxResponse
		if i == 0 {
			r = first
		} else {
			r = rsps[dataIdx[i]-idx]
		}
		off, l := int(r.Offset), int(r.Status)
		if off+l > grant.PageSize || hl+total+l > len(buf) {
			fq.Stats.RxDropped.Add(1)
			return k
		}
		b := int(dataIdx[i]%netBufs) * grant.PageSize
		frags[i] = pages[b+off : b+off+l]
		total += l
	}
	blank := first.Flags&ring.NetRxfCsumBlank != 0
	if fq.vec != nil && hl > 0 && len(frags[0]) > 0 {
		// Straight from the pages, when the headers are in the first
		// fragment (always, for what a sane backend sends).
		var h tap.VnetHdr
		ok := true
		if blank || gsoType != 0 {
			var l4 tap.L4
			if l4, ok = tap.FindL4(frags[0]); ok {
				fq.vnetFor(&h, l4, gsoType, gsoSize)
			}
		} else if first.Flags&ring.NetRxfDataValidated != 0 {
			h.Flags = tap.VnetFlagDataValid
		}
		if ok {
			h.Encode(fq.hdr[:])
			fq.vec.add(fq.hdr[:])
			for _, f := range frags[:nd] {
				if len(f) > 0 {
					fq.vec.add(f)
				}
			}
			if err := fq.vec.writev(); err != nil {
				fq.Stats.RxDropped.Add(1)
				return k
			}
			fq.Stats.RxPackets.Add(1)
			fq.Stats.RxBytes.Add(uint64(total))
			return k
		}
	}
	pos := hl
	for _, f := range frags[:nd] {
		pos += copy(buf[pos:], f)
	}
	pkt := buf[hl:pos]
	if hl == 0 {
		if blank {
			l4, ok := tap.FindL4(pkt)
			if !ok || !tap.CompleteChecksum(pkt, l4.Start, l4.CsumOff) {
				fq.Stats.RxDropped.Add(1)
				return k
			}
		}
	} else {
		var h tap.VnetHdr
		if blank || gsoType != 0 {
			l4, ok := tap.FindL4(pkt)
			if !ok {
				fq.Stats.RxDropped.Add(1)
				return k
			}
			fq.vnetFor(&h, l4, gsoType, gsoSize)
		} else if first.Flags&ring.NetRxfDataValidated != 0 {
			h.Flags = tap.VnetFlagDataValid
		}
		h.Encode(buf)
	}
	if _, err := fq.file.Write(buf[:pos]); err != nil {
		fq.Stats.RxDropped.Add(1)
		return k
	}
	fq.Stats.RxPackets.Add(1)
	fq.Stats.RxBytes.Add(uint64(len(pkt)))
	return k
}

// vnetFor fills the virtio-net header of a received frame whose checksum is
// blank (and which may be a GSO frame), its transport header at l4.
func (fq *frontQueue) vnetFor(h *tap.VnetHdr, l4 tap.L4, gsoType uint8, gsoSize uint16) {
	h.Flags = tap.VnetFlagNeedsCsum
	h.CsumStart, h.CsumOffset = uint16(l4.Start), uint16(l4.CsumOff)
	if gsoType != 0 && l4.Proto == 6 {
		h.GSOType = tap.VnetGSOTCPv4
		if gsoType == ring.NetifGSOTypeTCPv6 {
			h.GSOType = tap.VnetGSOTCPv6
		}
		h.GSOSize, h.HdrLen = gsoSize, uint16(l4.HdrLen)
	}
}
