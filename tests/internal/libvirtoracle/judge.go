package libvirtoracle

import (
	"fmt"
	"sort"
	"strings"

	"github.com/xfeat/xfeat/parser"
)

// Result is what libvirt's converter answered for one file: its XML, or
// its error (virsh's message without the "error: " prefix).
type Result struct {
	XML []byte
	Err string
}

// Verdict is the comparison of xfeat's XML for one xl.cfg file with
// libvirt's answer for the same file.
type Verdict struct {
	// Refused is why libvirt's converter refused the file, when it did:
	// a refusal predicted here, where xl (and xfeat) read the file.
	Refused string
	// Misread names the settings libvirt's reader takes otherwise than xl
	// (Misreadings), each with why.
	Misread map[string]string
	// Exempt are disagreements on facts of misread settings: deliberate,
	// since xfeat reads the file as xl does.
	Exempt []Diff
	// Diffs are the other disagreements: each one a bug of xfeat's or a
	// deliberate difference missing from Compare.
	Diffs []Diff
	// Deliberate names the deliberate differences (Deliberate) seen.
	Deliberate []string
}

// Judge compares ours (xfeat's XML for the file f, read from src) with
// libvirt's answer r for src. An error means libvirt answered what this
// package does not foresee: a refusal other than those predicted.
func Judge(ours []byte, f *parser.File, src []byte, r Result) (Verdict, error) {
	entries, cerr := ReadConf(src)
	if cerr != nil {
		if r.Err != cerr.Error() {
			return Verdict{}, fmt.Errorf("libvirt answered %q; its reader should refuse the file with %q", resultText(r), cerr.Error())
		}
		return Verdict{Refused: "libvirt's reader refuses " + cerr.Why, Deliberate: []string{"xl.cfg libvirt's reader refuses"}}, nil
	}
	misread := Misreadings(f, entries)
	if why, msgs := ConverterRefusal(entries); why != "" {
		if !contains(msgs, r.Err) {
			return Verdict{}, fmt.Errorf("libvirt answered %q; its converter should refuse the file (%s) with one of %q", resultText(r), why, msgs)
		}
		return Verdict{Refused: why, Misread: misread, Deliberate: []string{"files libvirt's converter refuses"}}, nil
	}
	if r.Err != "" {
		return Verdict{}, fmt.Errorf("libvirt refused a file it should read: %s", r.Err)
	}
	diffs, applied, err := CompareAll(ours, r.XML)
	if err != nil {
		return Verdict{}, err
	}
	v := Verdict{Misread: misread, Deliberate: applied}
	var feeds []string
	for name := range misread {
		feeds = append(feeds, SettingFacts(name)...)
	}
	for _, d := range diffs {
		if hasAnyPrefix(d.Key, feeds) {
			v.Exempt = append(v.Exempt, d)
		} else {
			v.Diffs = append(v.Diffs, d)
		}
	}
	if len(v.Exempt) > 0 {
		v.Deliberate = append(v.Deliberate, "settings libvirt's reader misreads")
	}
	return v, nil
}

func resultText(r Result) string {
	if r.Err != "" {
		return r.Err
	}
	return string(r.XML)
}

// stringOnly are the settings xen_xl.c and xen_common.c read with
// virConfGetValueString: a list there fails the whole conversion. xl takes
// cpus as a list too (one entry a vcpu).
var stringOnly = []string{"cpus", "name", "uuid", "type", "builder", "kernel", "ramdisk", "cmdline", "root", "extra", "bootloader", "on_poweroff", "on_reboot", "on_crash", "vnclisten", "keymap", "boot"}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ConverterRefusal says why libvirt 9's converter refuses a file its reader
// read (entries), and the messages it may give ("" when it converts it).
func ConverterRefusal(entries []ConfEntry) (string, []string) {
	first := map[string]ConfValue{}
	for _, e := range entries {
		if _, ok := first[e.Name]; !ok {
			first[e.Name] = e.Value
		}
	}
	var names []string
	for _, k := range stringOnly {
		if v, ok := first[k]; ok && v.Kind == ConfList {
			names = append(names, k)
		}
	}
	if len(names) > 0 {
		sort.Strings(names)
		var msgs []string
		for _, n := range names {
			msgs = append(msgs, "internal error: memory conf: expected a string for '"+n+"' parameter")
		}
		return fmt.Sprintf("%s as a list (libvirt's converter takes a string only)", strings.Join(names, ", ")), msgs
	}
	// xenParseVif gives up, without saying why, on an item of a vif spec
	// without '=': a flag such as trusted, or an empty item.
	if v, ok := first["vif"]; ok && v.Kind == ConfList {
		for _, it := range v.Items {
			if it.Kind != ConfString {
				continue
			}
			for _, kv := range strings.Split(it.Str, ",") {
				if !strings.Contains(kv, "=") {
					return fmt.Sprintf("a vif item without '=' (%q): libvirt's converter fails without a reason", strings.TrimSpace(kv)),
						[]string{"An error occurred, but the cause is unknown"}
				}
			}
		}
	}
	return "", nil
}

// SettingFacts returns the prefixes of the fact keys (Facts) an xl.cfg
// setting feeds, so that a setting libvirt misreads exempts them.
func SettingFacts(name string) []string {
	switch name {
	case "type", "builder":
		return []string{""} // the guest type changes everything
	case "memory":
		return []string{"memory", "currentMemory"}
	case "maxmem":
		return []string{"memory"}
	case "vcpus", "maxvcpus":
		return []string{"vcpu"}
	case "kernel":
		return []string{"os/kernel"}
	case "ramdisk":
		return []string{"os/initrd"}
	case "cmdline", "root", "extra":
		return []string{"os/cmdline"}
	case "boot":
		return []string{"os/boot"}
	case "pae", "acpi", "apic", "viridian", "hap":
		return []string{"features/" + name}
	case "e820_host":
		return []string{"features/xen/e820_host"}
	case "max_grant_frames":
		return []string{"controller[xenbus]@maxGrantFrames"}
	case "max_event_channels":
		return []string{"controller[xenbus]@maxEventChannels"}
	case "vif":
		return []string{"interface["}
	case "disk":
		return []string{"disk["}
	case "vnc", "vncunused", "vncdisplay", "vnclisten", "vncpasswd", "keymap", "sdl", "display", "xauthority", "vfb":
		return []string{"graphics["}
	case "serial":
		return []string{"serial["}
	case "name", "uuid", "bootloader", "on_poweroff", "on_reboot", "on_crash":
		return []string{name}
	}
	return nil
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
