package toolstack

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestEndpointsOrder(t *testing.T) {
	t.Setenv("XENSTORED_PATH", "")
	t.Setenv("XENSTORED_RUNDIR", "/run/xs")
	got := Endpoints(DiscoverOptions{SandboxSocket: "/run/xfeat/socket"})
	want := []Endpoint{{"/run/xs/socket", "default socket"}, {"/dev/xen/xenbus", "xenbus device"},
		{"/proc/xen/xenbus", "xenbus device"}, {"/run/xfeat/socket", "sandbox"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("no flag, no env: %v", got)
	}
	t.Setenv("XENSTORED_PATH", "/tmp/xs")
	if got := Endpoints(DiscoverOptions{SandboxSocket: "/run/xfeat/socket"}); !reflect.DeepEqual(got, []Endpoint{{"/tmp/xs", "XENSTORED_PATH"}}) {
		t.Errorf("XENSTORED_PATH: %v", got)
	}
	if got := Endpoints(DiscoverOptions{Flag: "/f", SandboxSocket: "/s"}); !reflect.DeepEqual(got, []Endpoint{{"/f", "--xenstore"}}) {
		t.Errorf("--xenstore: %v", got)
	}
}

func TestConnectSkipsSilentSockets(t *testing.T) {
	s, _ := store(t)
	// A socket that accepts but never answers is not XenStore.
	mute := filepath.Join(t.TempDir(), "mute")
	l, err := net.Listen("unix", mute)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	t.Setenv("XENSTORED_PATH", "")
	t.Setenv("XENSTORED_RUNDIR", filepath.Join(t.TempDir(), "none"))
	c, ep, err := Connect(context.Background(), DiscoverOptions{SandboxSocket: s.SocketPath(), Probe: 200 * time.Millisecond})
	if err != nil || ep.From != "sandbox" {
		t.Fatalf("connect: %v %v", ep, err)
	}
	c.Close()
	_, _, err = Connect(context.Background(), DiscoverOptions{Flag: mute, Probe: 200 * time.Millisecond})
	if !errors.Is(err, ErrNoXenStore) || !strings.Contains(err.Error(), mute+" (--xenstore): does not answer") {
		t.Fatalf("mute socket: %v", err)
	}
}
