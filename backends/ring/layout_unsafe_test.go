package ring

import (
	"testing"
	"unsafe"

	"github.com/xfeat/xfeat/internal/testutil"
)

// TestLayoutAgainstXenHeaders compares every typed view with offsetof/sizeof
// from Debian's /usr/include/xen/io/{ring,blkif,netif}.h compiled by gcc.
func TestLayoutAgainstXenHeaders(t *testing.T) {
	c := testutil.CFacts(t, "testdata/layout.c")
	var (
		seg  BlkifSegment
		req  BlkifRequest
		dis  BlkifRequestDiscard
		ind  BlkifRequestIndirect
		rsp  BlkifResponse
		txq  NetifTxRequest
		txp  NetifTxResponse
		rxq  NetifRxRequest
		rxp  NetifRxResponse
		extr NetifExtraInfo
	)
	check := map[string]uintptr{
		"sizeof struct blkif_request_segment":                   unsafe.Sizeof(seg),
		"offsetof struct blkif_request_segment.gref":            unsafe.Offsetof(seg.Gref),
		"offsetof struct blkif_request_segment.first_sect":      unsafe.Offsetof(seg.FirstSect),
		"offsetof struct blkif_request_segment.last_sect":       unsafe.Offsetof(seg.LastSect),
		"sizeof struct blkif_request":                           unsafe.Sizeof(req),
		"offsetof struct blkif_request.operation":               unsafe.Offsetof(req.Operation),
		"offsetof struct blkif_request.nr_segments":             unsafe.Offsetof(req.NrSegments),
		"offsetof struct blkif_request.handle":                  unsafe.Offsetof(req.Handle),
		"offsetof struct blkif_request.id":                      unsafe.Offsetof(req.ID),
		"offsetof struct blkif_request.sector_number":           unsafe.Offsetof(req.SectorNumber),
		"offsetof struct blkif_request.seg":                     unsafe.Offsetof(req.Seg),
		"sizeof struct blkif_request_discard":                   unsafe.Sizeof(dis),
		"offsetof struct blkif_request_discard.operation":       unsafe.Offsetof(dis.Operation),
		"offsetof struct blkif_request_discard.flag":            unsafe.Offsetof(dis.Flag),
		"offsetof struct blkif_request_discard.handle":          unsafe.Offsetof(dis.Handle),
		"offsetof struct blkif_request_discard.id":              unsafe.Offsetof(dis.ID),
		"offsetof struct blkif_request_discard.sector_number":   unsafe.Offsetof(dis.SectorNumber),
		"offsetof struct blkif_request_discard.nr_sectors":      unsafe.Offsetof(dis.NrSectors),
		"sizeof struct blkif_request_indirect":                  unsafe.Sizeof(ind),
		"offsetof struct blkif_request_indirect.operation":      unsafe.Offsetof(ind.Operation),
		"offsetof struct blkif_request_indirect.indirect_op":    unsafe.Offsetof(ind.IndirectOp),
		"offsetof struct blkif_request_indirect.nr_segments":    unsafe.Offsetof(ind.NrSegments),
		"offsetof struct blkif_request_indirect.id":             unsafe.Offsetof(ind.ID),
		"offsetof struct blkif_request_indirect.sector_number":  unsafe.Offsetof(ind.SectorNumber),
		"offsetof struct blkif_request_indirect.handle":         unsafe.Offsetof(ind.Handle),
		"offsetof struct blkif_request_indirect.indirect_grefs": unsafe.Offsetof(ind.IndirectGrefs),
		"sizeof struct blkif_response":                          unsafe.Sizeof(rsp),
		"offsetof struct blkif_response.id":                     unsafe.Offsetof(rsp.ID),
		"offsetof struct blkif_response.operation":              unsafe.Offsetof(rsp.Operation),
		"offsetof struct blkif_response.status":                 unsafe.Offsetof(rsp.Status),
		"sizeof union blkif_sring_entry":                        uintptr(entrySizeOf[BlkifRequest, BlkifResponse]()),
		"offsetof struct blkif_sring.req_prod":                  OffReqProd,
		"offsetof struct blkif_sring.req_event":                 OffReqEvent,
		"offsetof struct blkif_sring.rsp_prod":                  OffRspProd,
		"offsetof struct blkif_sring.rsp_event":                 OffRspEvent,
		"offsetof struct blkif_sring.pvt":                       OffPvt,
		"offsetof struct blkif_sring.ring":                      HeaderSize,
		"sizeof struct netif_tx_request":                        unsafe.Sizeof(txq),
		"offsetof struct netif_tx_request.gref":                 unsafe.Offsetof(txq.Gref),
		"offsetof struct netif_tx_request.offset":               unsafe.Offsetof(txq.Offset),
		"offsetof struct netif_tx_request.flags":                unsafe.Offsetof(txq.Flags),
		"offsetof struct netif_tx_request.id":                   unsafe.Offsetof(txq.ID),
		"offsetof struct netif_tx_request.size":                 unsafe.Offsetof(txq.Size),
		"sizeof struct netif_tx_response":                       unsafe.Sizeof(txp),
		"offsetof struct netif_tx_response.id":                  unsafe.Offsetof(txp.ID),
		"offsetof struct netif_tx_response.status":              unsafe.Offsetof(txp.Status),
		"sizeof struct netif_rx_request":                        unsafe.Sizeof(rxq),
		"offsetof struct netif_rx_request.id":                   unsafe.Offsetof(rxq.ID),
		"offsetof struct netif_rx_request.gref":                 unsafe.Offsetof(rxq.Gref),
		"sizeof struct netif_rx_response":                       unsafe.Sizeof(rxp),
		"offsetof struct netif_rx_response.id":                  unsafe.Offsetof(rxp.ID),
		"offsetof struct netif_rx_response.offset":              unsafe.Offsetof(rxp.Offset),
		"offsetof struct netif_rx_response.flags":               unsafe.Offsetof(rxp.Flags),
		"offsetof struct netif_rx_response.status":              unsafe.Offsetof(rxp.Status),
		"sizeof struct netif_extra_info":                        unsafe.Sizeof(extr),
		"offsetof struct netif_extra_info.type":                 unsafe.Offsetof(extr.Type),
		"offsetof struct netif_extra_info.flags":                unsafe.Offsetof(extr.Flags),
		"offsetof struct netif_extra_info.u":                    unsafe.Offsetof(extr.U),
		"offsetof struct netif_extra_info.u.gso.size":           unsafe.Offsetof(extr.U) + netifExtraGSOSize,
		"offsetof struct netif_extra_info.u.gso.type":           unsafe.Offsetof(extr.U) + netifExtraGSOType,
		"offsetof struct netif_extra_info.u.gso.features":       unsafe.Offsetof(extr.U) + netifExtraGSOFeatures,
		"offsetof struct netif_extra_info.u.hash.type":          unsafe.Offsetof(extr.U) + netifExtraHashType,
		"offsetof struct netif_extra_info.u.hash.algorithm":     unsafe.Offsetof(extr.U) + netifExtraHashAlg,
		"offsetof struct netif_extra_info.u.hash.value":         unsafe.Offsetof(extr.U) + netifExtraHashValue,
		"sizeof union netif_tx_sring_entry":                     uintptr(entrySizeOf[NetifTxRequest, NetifTxResponse]()),
		"sizeof union netif_rx_sring_entry":                     uintptr(entrySizeOf[NetifRxRequest, NetifRxResponse]()),
		"offsetof struct netif_tx_sring.ring":                   HeaderSize,
		"ringsize blkif 1":                                      uintptr(EntriesFor(4096, BlkifEntrySize)),
		"ringsize blkif 2":                                      uintptr(EntriesFor(8192, BlkifEntrySize)),
		"ringsize blkif 4":                                      uintptr(EntriesFor(16384, BlkifEntrySize)),
		"ringsize blkif 8":                                      uintptr(EntriesFor(32768, BlkifEntrySize)),
		"ringsize blkif 16":                                     uintptr(EntriesFor(65536, BlkifEntrySize)),
		"ringsize netif_tx 1":                                   uintptr(EntriesFor(4096, NetifTxEntrySize)),
		"ringsize netif_rx 1":                                   uintptr(EntriesFor(4096, NetifRxEntrySize)),
		"const BLKIF_OP_INDIRECT":                               BlkifOpIndirect,
		"const BLKIF_OP_DISCARD":                                BlkifOpDiscard,
		"const BLKIF_OP_FLUSH_DISKCACHE":                        BlkifOpFlushDiskcache,
		"const BLKIF_MAX_SEGMENTS_PER_REQUEST":                  BlkifMaxSegmentsPerRequest,
		"const BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST":            BlkifMaxIndirectPagesPerRequest,
		"const NETTXF_extra_info":                               NetTxfExtraInfo,
		"const NETRXF_gso_prefix":                               NetRxfGSOPrefix,
		"const XEN_NETIF_EXTRA_TYPE_HASH":                       NetifExtraTypeHash,
		"const XEN_NETIF_NR_SLOTS_MIN":                          NetifNrSlotsMin,
	}
	if len(c) < len(check) {
		t.Fatalf("C printed %d values, Go checks %d", len(c), len(check))
	}
	for k, goV := range check {
		cV, ok := c[k]
		if !ok {
			t.Errorf("%s: not printed by layout.c", k)
			continue
		}
		if uintptr(cV) != goV {
			t.Errorf("%s: C %d, Go %d", k, cV, goV)
		}
	}
	// Negative constants are compared as signed.
	for k, goV := range map[string]int{"const BLKIF_RSP_EOPNOTSUPP": BlkifRspEOPNOTSUPP, "const NETIF_RSP_DROPPED": NetifRspDropped, "const NETIF_RSP_NULL": NetifRspNull} {
		if int(c[k]) != goV {
			t.Errorf("%s: C %d, Go %d", k, c[k], goV)
		}
	}
}

func unsafePointer[T any](p *T) unsafe.Pointer { return unsafe.Pointer(p) }
