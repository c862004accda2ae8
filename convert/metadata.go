package convert

import (
	"strconv"

	"github.com/xfeat/xfeat/parser"
)

// xfeat's metadata element, <xfeat:xl xmlns:xfeat="Namespace"> inside the
// domain's <metadata>, holds what xl.cfg says that libvirt has no element
// for, so that XML -> xl.cfg gives back every setting and feature request:
//
//	<xfeat:setting name="KEY">VALUE</xfeat:setting>
//	    a top-level key libvirt has no element for; VALUE in xl.cfg syntax
//	    (["0-3", "4"], "text", 1024).
//	<xfeat:interface mac="MAC"> (or index="N": the Nth <interface>, from 0,
//	                              for a vif without mac=)
//	<xfeat:disk dev="VDEV">
//	    <xfeat:feature name="XENSTORE-NAME" value="VALUE"/>
//	        a feature request without a libvirt element (persistent grants,
//	        ring order, indirect segments, split event channels, ...), by
//	        its xenstore name as `features=NAME:VALUE` writes it.
//	    <xfeat:keys>KEY=VALUE,...</xfeat:keys>
//	        the device's xl keys without a libvirt element, as written in a
//	        spec (gatewaydev=eth1,trusted; script=..., for a disk).
//	<xfeat:written derived="CFG">CFG</xfeat:written>
//	<xfeat:written list="vif|disk" derived="SPEC">SPEC</xfeat:written>
//	    how the source wrote what libvirt's elements express (vcpus = 06,
//	    a positional disk spec, a rate with an interval): used instead of
//	    what the XML gives only while the XML still gives exactly `derived`,
//	    so an edit of the XML always wins.
//
// Features with a libvirt element are not repeated here: queues are
// <driver queues=>, tso4/tso6/csum are <driver><host .../></driver>, and
// the XML is their only record.
type meta struct {
	settings []metaSetting
	ifaces   []*metaDev
	disks    []*metaDev
	written  []written
}

type metaSetting struct {
	name, value string
	at          parser.Range
}

type metaFeature struct{ name, value string }

// metaDev is one device's entry. An interface is identified by mac (when
// its vif had one) or by index; a disk by dev.
type metaDev struct {
	mac, index, dev string
	features        []metaFeature
	keys            string
	at              parser.Range
	matched         bool
}

func (d *metaDev) empty() bool { return len(d.features) == 0 && d.keys == "" }

type written struct {
	list, derived, source string
}

// node renders m as the <xfeat:xl> element (nil when m holds nothing).
func (m *meta) node() *node {
	root := &node{space: Namespace, name: "xl", prefix: metaPrefix, nsDecl: Namespace}
	x := func(name string, kv ...string) *node {
		n := el(name, kv...)
		n.space = Namespace
		return n
	}
	for _, s := range m.settings {
		root.add(x("setting", "name", s.name).withText(s.value))
	}
	dev := func(d *metaDev, name string) {
		if d.empty() {
			return
		}
		n := x(name, "mac", d.mac, "index", d.index, "dev", d.dev)
		for _, f := range d.features {
			n.add(x("feature", "name", f.name, "value", f.value))
		}
		if d.keys != "" {
			n.add(x("keys").withText(d.keys))
		}
		root.add(n)
	}
	for _, d := range m.ifaces {
		dev(d, "interface")
	}
	for _, d := range m.disks {
		dev(d, "disk")
	}
	for _, w := range m.written {
		n := x("written", "list", w.list)
		n.attrs = append(n.attrs, attr{name: "derived", value: w.derived}) // even ""
		root.add(n.withText(w.source))
	}
	if len(root.kids) == 0 {
		return nil
	}
	return root
}

// readMeta reads an <xfeat:xl> element. Problems are reported through bad
// (the element is then skipped).
func readMeta(n *node, bad func(at parser.Range, msg string)) *meta {
	m := &meta{}
	for _, k := range n.kids {
		if k.space != Namespace {
			continue // reported as unused
		}
		switch k.name {
		case "setting":
			name, ok := k.attr("name")
			if !ok || !parser.ValidName(name) {
				bad(k.at, "<xfeat:setting> needs a name= that is an xl.cfg key")
				continue
			}
			k.used = true
			m.settings = append(m.settings, metaSetting{name: name, value: k.text, at: k.at})
		case "interface", "disk":
			d := &metaDev{at: k.at}
			if k.name == "interface" {
				d.mac, _ = k.attr("mac")
				d.index, _ = k.attr("index")
				if d.mac == "" && d.index == "" {
					bad(k.at, "<xfeat:interface> needs mac= or index=")
					continue
				}
				if d.index != "" {
					if _, err := strconv.ParseUint(d.index, 10, 16); err != nil {
						bad(k.at, "<xfeat:interface> index= is not a number")
						continue
					}
				}
			} else if d.dev, _ = k.attr("dev"); d.dev == "" {
				bad(k.at, "<xfeat:disk> needs dev=")
				continue
			}
			k.used = true
			for _, c := range k.kids {
				if c.space != Namespace {
					continue
				}
				switch c.name {
				case "feature":
					name, _ := c.attr("name")
					value, _ := c.attr("value")
					if name == "" || value == "" {
						bad(c.at, "<xfeat:feature> needs name= and value=")
						continue
					}
					c.used = true
					d.features = append(d.features, metaFeature{name, value})
				case "keys":
					c.used = true
					d.keys = c.text
				}
			}
			if k.name == "interface" {
				m.ifaces = append(m.ifaces, d)
			} else {
				m.disks = append(m.disks, d)
			}
		case "written":
			derived, ok := k.attr("derived")
			if !ok {
				bad(k.at, "<xfeat:written> needs derived=")
				continue
			}
			list, _ := k.attr("list")
			if list != "" && list != "vif" && list != "disk" {
				bad(k.at, "<xfeat:written> list= is vif or disk")
				continue
			}
			k.used = true
			m.written = append(m.written, written{list: list, derived: derived, source: k.text})
		}
	}
	return m
}

// source returns the source spelling recorded for what the XML derives now.
func (m *meta) source(list, derived string) (string, bool) {
	if m == nil {
		return "", false
	}
	for _, w := range m.written {
		if w.list == list && w.derived == derived {
			return w.source, true
		}
	}
	return "", false
}

// iface finds the entry of the interface with mac (matched by mac first)
// or at position index.
func (m *meta) iface(mac string, index int) *metaDev {
	if m == nil {
		return nil
	}
	if mac != "" {
		for _, d := range m.ifaces {
			if !d.matched && d.mac != "" && equalFoldASCII(d.mac, mac) {
				d.matched = true
				return d
			}
		}
	}
	for _, d := range m.ifaces {
		if !d.matched && d.mac == "" && d.index == strconv.Itoa(index) {
			d.matched = true
			return d
		}
	}
	return nil
}

func (m *meta) disk(dev string) *metaDev {
	if m == nil {
		return nil
	}
	for _, d := range m.disks {
		if !d.matched && d.dev == dev {
			d.matched = true
			return d
		}
	}
	return nil
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
