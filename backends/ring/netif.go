package ring

import "encoding/binary"

// Network interface constants (xen/include/public/io/netif.h).
const (
	NetTxfCsumBlank     = 1 << 0
	NetTxfDataValidated = 1 << 1
	NetTxfMoreData      = 1 << 2
	NetTxfExtraInfo     = 1 << 3

	NetRxfDataValidated = 1 << 0
	NetRxfCsumBlank     = 1 << 1
	NetRxfMoreData      = 1 << 2
	NetRxfExtraInfo     = 1 << 3
	NetRxfGSOPrefix     = 1 << 4

	NetifExtraTypeNone     = 0
	NetifExtraTypeGSO      = 1
	NetifExtraTypeMcastAdd = 2
	NetifExtraTypeMcastDel = 3
	NetifExtraTypeHash     = 4
	NetifExtraFlagMore     = 1

	NetifGSOTypeNone  = 0
	NetifGSOTypeTCPv4 = 1
	NetifGSOTypeTCPv6 = 2

	NetifRspDropped = -2
	NetifRspError   = -1
	NetifRspOkay    = 0
	NetifRspNull    = 1

	NetifNrSlotsMin  = 18
	NetifMaxTxSize   = 0xFFFF
	NetifTxEntrySize = 12 // union netif_tx_sring_entry
	NetifRxEntrySize = 8  // union netif_rx_sring_entry
)

// NetifTxRequest is struct netif_tx_request (12 bytes).
type NetifTxRequest struct {
	Gref   uint32
	Offset uint16
	Flags  uint16 // NetTxf*
	ID     uint16
	Size   uint16 // first fragment: whole packet size
}

// NetifTxResponse is struct netif_tx_response (4 bytes).
type NetifTxResponse struct {
	ID     uint16
	Status int16
}

// NetifRxRequest is struct netif_rx_request (8 bytes).
type NetifRxRequest struct {
	ID   uint16
	_    uint16
	Gref uint32
}

// NetifRxResponse is struct netif_rx_response (8 bytes). Status < 0 is a
// NetifRsp* error, otherwise the fragment length.
type NetifRxResponse struct {
	ID     uint16
	Offset uint16
	Flags  uint16 // NetRxf*
	Status int16
}

// NetifExtraInfo is struct netif_extra_info (8 bytes). It takes a whole slot
// of the tx ring (after a request with NetTxfExtraInfo) or the rx ring (after
// a response with NetRxfExtraInfo); read it with TxExtra/RxExtra. U is the
// 6-byte union, decoded by the accessors below.
type NetifExtraInfo struct {
	Type  uint8 // NetifExtraType*
	Flags uint8 // NetifExtraFlagMore
	U     [6]byte
}

// Offsets inside NetifExtraInfo.U (the union starts at byte 2 of the struct).
const (
	netifExtraGSOSize     = 0 // u.gso.size u16
	netifExtraGSOType     = 2 // u.gso.type u8
	netifExtraGSOFeatures = 4 // u.gso.features u16
	netifExtraHashType    = 0 // u.hash.type u8
	netifExtraHashAlg     = 1 // u.hash.algorithm u8
	netifExtraHashValue   = 2 // u.hash.value[4]
)

// GSO returns u.gso.
func (e *NetifExtraInfo) GSO() (size uint16, typ uint8, features uint16) {
	return binary.LittleEndian.Uint16(e.U[netifExtraGSOSize:]), e.U[netifExtraGSOType],
		binary.LittleEndian.Uint16(e.U[netifExtraGSOFeatures:])
}

// SetGSO sets Type to GSO and fills u.gso.
func (e *NetifExtraInfo) SetGSO(size uint16, typ uint8, features uint16) {
	e.Type = NetifExtraTypeGSO
	e.U = [6]byte{}
	binary.LittleEndian.PutUint16(e.U[netifExtraGSOSize:], size)
	e.U[netifExtraGSOType] = typ
	binary.LittleEndian.PutUint16(e.U[netifExtraGSOFeatures:], features)
}

// Mcast returns u.mcast.addr.
func (e *NetifExtraInfo) Mcast() [6]byte { return e.U }

// Hash returns u.hash (value is the little-endian reading of value[4]).
func (e *NetifExtraInfo) Hash() (typ, alg uint8, value uint32) {
	return e.U[netifExtraHashType], e.U[netifExtraHashAlg], binary.LittleEndian.Uint32(e.U[netifExtraHashValue:])
}

// Typed network rings.
type (
	NetifTxBack  = BackOf[NetifTxRequest, NetifTxResponse]
	NetifTxFront = FrontOf[NetifTxRequest, NetifTxResponse]
	NetifRxBack  = BackOf[NetifRxRequest, NetifRxResponse]
	NetifRxFront = FrontOf[NetifRxRequest, NetifRxResponse]
)

// NewNetifTxBack attaches a backend to a netif tx ring.
func NewNetifTxBack(mem []byte) (*NetifTxBack, error) {
	return NewBackOf[NetifTxRequest, NetifTxResponse](mem)
}

// NewNetifTxFront initialises a netif tx ring and attaches a frontend.
func NewNetifTxFront(mem []byte) (*NetifTxFront, error) {
	return NewFrontOf[NetifTxRequest, NetifTxResponse](mem)
}

// NewNetifRxBack attaches a backend to a netif rx ring.
func NewNetifRxBack(mem []byte) (*NetifRxBack, error) {
	return NewBackOf[NetifRxRequest, NetifRxResponse](mem)
}

// NewNetifRxFront initialises a netif rx ring and attaches a frontend.
func NewNetifRxFront(mem []byte) (*NetifRxFront, error) {
	return NewFrontOf[NetifRxRequest, NetifRxResponse](mem)
}
