package toolstack

import (
	"strconv"

	"github.com/xfeat/xfeat/xswire"
)

// MaxDomid is the largest id a guest may get (DOMID_FIRST_RESERVED - 1).
const MaxDomid = xswire.DomidFirstReserved - 1

func u(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
