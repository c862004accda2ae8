package ring

// Block interface constants (xen/include/public/io/blkif.h).
const (
	BlkifOpRead           = 0
	BlkifOpWrite          = 1
	BlkifOpWriteBarrier   = 2
	BlkifOpFlushDiskcache = 3
	BlkifOpReserved1      = 4
	BlkifOpDiscard        = 5
	BlkifOpIndirect       = 6

	BlkifRspEOPNOTSUPP = -2
	BlkifRspError      = -1
	BlkifRspOkay       = 0

	BlkifMaxSegmentsPerRequest                = 11
	BlkifMaxIndirectPagesPerRequest           = 8
	BlkifSegmentsPerIndirectFrame             = PageSize / 8 // blkif_request_segment is 8 bytes
	BlkifDiscardSecure                        = 1
	BlkifEntrySize                            = 112 // union blkif_sring_entry on x86_64
	BlkifSectorSize                           = 512
	BlkifSectorsPerPage                       = PageSize / BlkifSectorSize
	VdiskCDROM, VdiskRemovable, VdiskReadonly = 1, 2, 4
)

// BlkifSegment is struct blkif_request_segment: one granted page and the
// inclusive range of 512-byte sectors used in it.
type BlkifSegment struct {
	Gref      uint32
	FirstSect uint8
	LastSect  uint8
	_         [2]byte
}

// BlkifRequest is struct blkif_request (x86_64: 112 bytes, id at 8,
// sector_number at 16, seg at 24). For BLKIF_OP_DISCARD and
// BLKIF_OP_INDIRECT reinterpret it with Discard and Indirect.
type BlkifRequest struct {
	Operation    uint8
	NrSegments   uint8
	Handle       uint16
	_            uint32
	ID           uint64
	SectorNumber uint64
	Seg          [BlkifMaxSegmentsPerRequest]BlkifSegment
}

// BlkifRequestDiscard is struct blkif_request_discard (32 bytes).
type BlkifRequestDiscard struct {
	Operation    uint8
	Flag         uint8 // BlkifDiscardSecure
	Handle       uint16
	_            uint32
	ID           uint64
	SectorNumber uint64
	NrSectors    uint64
}

// BlkifRequestIndirect is struct blkif_request_indirect (64 bytes).
type BlkifRequestIndirect struct {
	Operation     uint8 // BlkifOpIndirect
	IndirectOp    uint8
	NrSegments    uint16
	_             uint32
	ID            uint64
	SectorNumber  uint64
	Handle        uint16
	_             uint16
	IndirectGrefs [BlkifMaxIndirectPagesPerRequest]uint32
	_             uint32
}

// BlkifResponse is struct blkif_response (16 bytes).
type BlkifResponse struct {
	ID        uint64
	Operation uint8
	_         uint8
	Status    int16
	_         uint32
}

// BlkifBack and BlkifFront are typed block rings.
type (
	BlkifBack  = BackOf[BlkifRequest, BlkifResponse]
	BlkifFront = FrontOf[BlkifRequest, BlkifResponse]
)

// NewBlkifBack attaches a backend to a blkif ring.
func NewBlkifBack(mem []byte) (*BlkifBack, error) { return NewBackOf[BlkifRequest, BlkifResponse](mem) }

// NewBlkifFront initialises a blkif ring and attaches a frontend.
func NewBlkifFront(mem []byte) (*BlkifFront, error) {
	return NewFrontOf[BlkifRequest, BlkifResponse](mem)
}
