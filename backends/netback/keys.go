package netback

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/xsclient"
	"github.com/xfeat/xfeat/xswire"
)

// VifKeys are the toolstack's keys in a vif's backend directory that the
// data path honours (xl-network-configuration(5)).
type VifKeys struct {
	MAC     net.HardwareAddr // the guest's MAC (mac=)
	Bridge  string           // bridge=
	MTU     int              // mtu=, 0 when absent (1500)
	VifName string           // vifname=, "" for vif<domid>.<devid>
	IP      string           // ip=, as written (the guest configures it)
	// Rate is rate= as libxl writes it: RateBytes every RateMicros.
	RateBytes  uint64
	RateMicros uint32
}

// readVifKeys reads the keys; absent keys stay zero, garbage is an error.
func readVifKeys(ctx context.Context, c *xsclient.Client, dir string) (VifKeys, error) {
	var k VifKeys
	get := func(name string) (string, bool, error) {
		v, err := c.ReadString(ctx, dir+"/"+name)
		if errors.Is(err, xswire.ErrNotFound) {
			return "", false, nil
		}
		return v, err == nil, err
	}
	if v, ok, err := get(pv.KeyMAC); err != nil {
		return k, err
	} else if ok {
		m, err := net.ParseMAC(v)
		if err != nil || len(m) != 6 {
			return k, fmt.Errorf("mac: %q is not a MAC address", v)
		}
		k.MAC = m
	}
	var err error
	if k.Bridge, _, err = get(pv.KeyBridge); err != nil {
		return k, err
	}
	if v, ok, err := get(pv.KeyMTU); err != nil {
		return k, err
	} else if ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 68 || n > 65535 {
			return k, fmt.Errorf("mtu: %q is not an MTU (68..65535)", v)
		}
		k.MTU = n
	}
	if k.VifName, _, err = get(pv.KeyVifname); err != nil {
		return k, err
	}
	if len(k.VifName) >= 16 || strings.ContainsAny(k.VifName, "/ \t\n:") {
		return k, fmt.Errorf("vifname: %q is not an interface name", k.VifName)
	}
	if k.IP, _, err = get(pv.KeyIP); err != nil {
		return k, err
	}
	if v, ok, err := get(pv.KeyRate); err != nil {
		return k, err
	} else if ok {
		b, u, found := strings.Cut(v, ",")
		bytes, err1 := strconv.ParseUint(b, 10, 64)
		us, err2 := strconv.ParseUint(u, 10, 32)
		if !found || err1 != nil || err2 != nil || bytes == 0 || us == 0 {
			return k, fmt.Errorf("rate: %q is not <bytes>,<microseconds>", v)
		}
		k.RateBytes, k.RateMicros = bytes, uint32(us)
	}
	return k, nil
}
