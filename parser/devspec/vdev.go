package devspec

import (
	"errors"
	"fmt"
)

// ErrBadVdev is returned (wrapped) by VdevNumber for a name libxl rejects.
var ErrBadVdev = errors.New("invalid or unsupported virtual disk identifier")

// VdevNumber returns the `virtual-device` number libxl writes to a disk's
// frontend for vdev (libxl__device_disk_dev_number), with its encoding and
// its quirks:
//
//   - xvd<letters>[<partition>] and d<N>p<M>: disk (bijective base 26 for the
//     letters, a=0, z=25, aa=26) below 2^20, partition up to 255; disk <= 15 and
//     partition <= 15 give (202<<8)|(disk<<4)|partition, others
//     (1<<28)|(disk<<8)|partition;
//   - a plain number (C strtoul base 0, up to INT_MAX) is taken verbatim;
//   - hd[a-d][<partition <= 63>]: ((disk<2 ? 3 : 22)<<8)|((disk&1)<<6)|partition;
//   - sd[a-p][<partition <= 15>]: (8<<8)|(disk<<4)|partition.
//
// A partition number may not have a leading zero. Examples: xvda 51712,
// xvdb 51728, xvda1 51713, xvdq 268439552, hda 768, hdc 5632, sda 2048.
func VdevNumber(vdev string) (uint32, error) {
	n := vdevNumber(vdev)
	if n < 0 {
		return 0, fmt.Errorf("%w: %q", ErrBadVdev, vdev)
	}
	return uint32(n), nil
}

func vdevNumber(v string) int32 {
	if disk, part, ok := scanDP(v); ok && disk < 1<<20 && part < 256 {
		return encodeXvd(disk, part)
	}
	if disk, part, ok := virtdiskMatches(v, "xvd", 1<<20-1, 255); ok {
		return encodeXvd(disk, part)
	}
	if ul, n, of := cStrtoul(v, 0); !of && n == len(v) && ul <= 1<<31-1 {
		// also "" (nothing converted, but the whole empty string consumed)
		return int32(ul)
	}
	if disk, part, ok := virtdiskMatches(v, "hd", 3, 63); ok {
		major := int32(22)
		if disk < 2 {
			major = 3
		}
		return major<<8 | (disk&1)<<6 | part
	}
	if disk, part, ok := virtdiskMatches(v, "sd", 15, 15); ok {
		return 8<<8 | disk<<4 | part
	}
	return -1
}

// encodeXvd computes in C int arithmetic, so a negative disk or partition
// (possible through the parsers' sign handling) yields a negative result,
// which libxl treats as invalid.
func encodeXvd(disk, part int32) int32 {
	if disk <= 15 && part <= 15 {
		return 202<<8 | disk<<4 | part
	}
	return 1<<28 | disk<<8 | part
}

// scanDP is sscanf(v, "d%ip%i%n") requiring the whole string consumed.
func scanDP(v string) (disk, part int32, ok bool) {
	if len(v) == 0 || v[0] != 'd' {
		return 0, 0, false
	}
	i := 1
	d, n, _ := cStrtol(v[i:], 0)
	if n == 0 {
		return 0, 0, false
	}
	i += n
	if i >= len(v) || v[i] != 'p' {
		return 0, 0, false
	}
	i++
	p, n, _ := cStrtol(v[i:], 0)
	if n == 0 || i+n != len(v) {
		return 0, 0, false
	}
	return int32(d), int32(p), true
}

// virtdiskMatches is libxl's device_virtdisk_matches.
func virtdiskMatches(v, prefix string, maxIndex, maxPart int32) (index, part int32, ok bool) {
	if len(v) < len(prefix) || v[:len(prefix)] != prefix {
		return 0, 0, false
	}
	index = -1
	i := len(prefix)
	for i < len(v) && isLower(v[i]) {
		index = (index+1)*26 + int32(v[i]-'a')
		if index > maxIndex {
			return 0, 0, false
		}
		i++
	}
	if i == len(v) {
		return index, 0, true
	}
	if v[i] == '0' {
		return 0, 0, false // leading zeroes not permitted in partition number
	}
	ul, n, _ := cStrtoul(v[i:], 10)
	pl := int64(ul) // C: long pl = strtoul(...)
	if pl > int64(maxPart) || i+n != len(v) {
		return 0, 0, false
	}
	return index, int32(pl), true
}
