package tap

// Transport header location and checksum completion for Ethernet frames, as
// needed when a frame crosses between a virtio-net header (csum_start,
// csum_offset) and netif's flags (NETTXF_csum_blank says only "blank").

const (
	ethHdrLen     = 14
	etherTypeIP4  = 0x0800
	etherTypeIP6  = 0x86DD
	etherTypeVLAN = 0x8100
	protoTCP      = 6
	protoUDP      = 17
)

// L4 describes where a frame's transport header is.
type L4 struct {
	Start   int   // offset of the TCP or UDP header
	CsumOff int   // checksum field offset within it (16 for TCP, 6 for UDP)
	HdrLen  int   // Ethernet + IP + transport header length (GSO hdr_len)
	Proto   uint8 // 6 or 17
	IPv6    bool
}

// FindL4 parses an Ethernet frame (one optional 802.1Q tag, IPv4 or IPv6
// with the common extension headers) down to its TCP or UDP header. ok is
// false for anything else or a truncated frame. It never reads outside frame.
func FindL4(frame []byte) (l L4, ok bool) {
	if len(frame) < ethHdrLen {
		return l, false
	}
	off := 12
	et := int(frame[off])<<8 | int(frame[off+1])
	off += 2
	if et == etherTypeVLAN {
		if len(frame) < off+4 {
			return l, false
		}
		et = int(frame[off+2])<<8 | int(frame[off+3])
		off += 4
	}
	var proto uint8
	switch et {
	case etherTypeIP4:
		if len(frame) < off+20 || frame[off]>>4 != 4 {
			return l, false
		}
		ihl := int(frame[off]&0x0f) * 4
		if ihl < 20 || len(frame) < off+ihl {
			return l, false
		}
		// A fragment other than the first has no transport header.
		if (int(frame[off+6]&0x1f)<<8 | int(frame[off+7])) != 0 {
			return l, false
		}
		proto = frame[off+9]
		off += ihl
	case etherTypeIP6:
		if len(frame) < off+40 || frame[off]>>4 != 6 {
			return l, false
		}
		proto = frame[off+6]
		off += 40
		l.IPv6 = true
		for i := 0; i < 8 && (proto == 0 || proto == 43 || proto == 60); i++ {
			if len(frame) < off+8 {
				return l, false
			}
			proto = frame[off]
			off += (int(frame[off+1]) + 1) * 8
		}
	default:
		return l, false
	}
	switch proto {
	case protoTCP:
		if len(frame) < off+20 {
			return l, false
		}
		doff := int(frame[off+12]>>4) * 4
		if doff < 20 || len(frame) < off+doff {
			return l, false
		}
		return L4{Start: off, CsumOff: 16, HdrLen: off + doff, Proto: proto, IPv6: l.IPv6}, true
	case protoUDP:
		if len(frame) < off+8 {
			return l, false
		}
		return L4{Start: off, CsumOff: 6, HdrLen: off + 8, Proto: proto, IPv6: l.IPv6}, true
	}
	return l, false
}

// CompleteChecksum finishes a partial checksum (CHECKSUM_PARTIAL /
// VIRTIO_NET_HDR_F_NEEDS_CSUM): the field at start+offset holds the
// pseudo-header sum; the one's complement sum from start to the end of the
// frame goes there. It reports false when the offsets do not fit the frame.
func CompleteChecksum(frame []byte, start, offset int) bool {
	if start < 0 || offset < 0 || start+offset+2 > len(frame) {
		return false
	}
	sum := checksum(frame[start:], 0)
	c := ^uint16(sum)
	if c == 0 && offset == 6 {
		c = 0xffff // UDP: 0 means "no checksum"
	}
	frame[start+offset] = byte(c >> 8)
	frame[start+offset+1] = byte(c)
	return true
}

// checksum is the folded 16-bit one's complement sum of b plus initial.
func checksum(b []byte, initial uint32) uint32 {
	sum := uint64(initial)
	// 32-bit big-endian words: two 16-bit words each, in separate halves
	// that the fold below adds together; a frame is far too short for
	// the 64-bit sum to overflow.
	for len(b) >= 4 {
		sum += uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
		b = b[4:]
	}
	for len(b) >= 2 {
		sum += uint64(b[0])<<8 | uint64(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = (sum & 0xffff) + (sum >> 16)
	}
	return uint32(sum)
}
