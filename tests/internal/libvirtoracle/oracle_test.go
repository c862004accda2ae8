package libvirtoracle_test

import (
	"strings"
	"testing"

	"github.com/xfeat/xfeat/convert"
	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/tests/internal/libvirtoracle"
)

const cfg = `name = "oracle"
uuid = "0b6f3e1c-5d2a-4c8e-9f10-123456789abc"
memory = 512
maxmem = 1024
vcpus = 2
kernel = "/boot/vmlinuz"
extra = "root=/dev/xvda1 ro"
on_crash = "preserve"
max_grant_frames = 128
vif = [ "mac=00:16:3e:01:02:03,bridge=xenbr0,script=vif-bridge,rate=10MB/s" ]
disk = [ "phy:/dev/vg0/oracle,xvda,w", "format=qcow2,vdev=xvdb,access=ro,backendtype=qdisk,target=/srv/o.qcow2" ]
`

// libvirtXML is what libvirt's converter writes for cfg, by the rules of
// its xen_xl.c and xen_common.c: defaults filled in, implicit devices
// added, a disk without backendtype= driven by qemu, rate read in its own
// units.
const libvirtXML = `<domain type='xen'>
  <name>oracle</name>
  <uuid>0b6f3e1c-5d2a-4c8e-9f10-123456789abc</uuid>
  <memory unit='KiB'>1048576</memory>
  <currentMemory unit='KiB'>524288</currentMemory>
  <vcpu placement='static'>2</vcpu>
  <os>
    <type arch='x86_64' machine='xenpv'>linux</type>
    <kernel>/boot/vmlinuz</kernel>
    <cmdline>root=/dev/xvda1 ro</cmdline>
  </os>
  <clock offset='utc' adjustment='reset'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>preserve</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='/dev/vg0/oracle'/>
      <target dev='xvda' bus='xen'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/srv/o.qcow2'/>
      <target dev='xvdb' bus='xen'/>
      <readonly/>
    </disk>
    <controller type='xenbus' index='0' maxGrantFrames='128'/>
    <interface type='bridge'>
      <mac address='00:16:3e:01:02:03'/>
      <source bridge='xenbr0'/>
      <bandwidth>
        <outbound average='10240'/>
      </bandwidth>
      <script path='vif-bridge'/>
    </interface>
    <console type='pty'>
      <target type='xen' port='0'/>
    </console>
    <input type='mouse' bus='xen'/>
    <input type='keyboard' bus='xen'/>
    <memballoon model='xen'/>
  </devices>
</domain>
`

func ours(t *testing.T) []byte {
	t.Helper()
	f, d := parser.Parse("oracle.cfg", []byte(cfg), parser.Options{})
	if f == nil {
		t.Fatal(d)
	}
	x, d := convert.ToLibvirt(f, convert.Options{})
	if x == nil {
		t.Fatal(d)
	}
	return x
}

// TestCompareDeliberate: xfeat's XML for cfg and libvirt's agree once the
// deliberate differences are taken out.
func TestCompareDeliberate(t *testing.T) {
	diffs, err := libvirtoracle.Compare(ours(t), []byte(libvirtXML))
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) != 0 {
		t.Errorf("differences:\n%v\nxfeat:\n%s", diffs, ours(t))
	}
	_, applied, _ := libvirtoracle.CompareAll(ours(t), []byte(libvirtXML))
	want := "bandwidth average, driver name of a disk without backendtype=, on_* actions xl.cfg does not set"
	if strings.Join(applied, ", ") != want {
		t.Errorf("deliberate differences seen: %q, want %s", applied, want)
	}
}

// TestCompareFinds: a real difference on an element both write is found.
func TestCompareFinds(t *testing.T) {
	for _, c := range []struct{ from, to, want string }{
		{"00:16:3e:01:02:03", "00:16:3e:01:02:04", "interface[0]/mac@address"},
		{"<readonly/>", "", "disk[xvdb]/readonly"},
		{"maxGrantFrames='128'", "maxGrantFrames='64'", "controller[xenbus]@maxGrantFrames"},
		{"<vcpu placement='static'>2</vcpu>", "<vcpu placement='static'>3</vcpu>", "vcpu:"},
		{"<on_crash>preserve</on_crash>", "<on_crash>restart</on_crash>", "on_crash"},
		{"machine='xenpv'>linux", "machine='xenpvh'>xenpvh", "os/type"},
		{"<bandwidth>", "<bandwidth-gone>", "interface[0]/bandwidth"},
	} {
		theirs := strings.Replace(libvirtXML, c.from, c.to, 1)
		if c.from == "<bandwidth>" {
			theirs = strings.Replace(libvirtXML, "      <bandwidth>\n        <outbound average='10240'/>\n      </bandwidth>\n", "", 1)
		}
		diffs, err := libvirtoracle.Compare(ours(t), []byte(theirs))
		if err != nil {
			t.Fatal(err)
		}
		if len(diffs) == 0 || !strings.HasPrefix(diffs[0].String(), c.want) {
			t.Errorf("%s -> %s: differences %q, want them to start with %s", c.from, c.to, diffs, c.want)
		}
	}
}
