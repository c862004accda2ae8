package vdevcompat

import (
	"math/rand"
	"strings"
	"testing"

	"github.com/xfeat/xfeat/parser/devspec"
)

var vdevCorpus = []string{
	"", "0", "51712", "0x10", "010", "-0", "-1", "+5", " 5", "5 ", "2147483647", "2147483648", "4294967296",
	"xvd", "xvda", "xvdb", "xvdz", "xvdaa", "xvdzz", "xvdaaa", "xvdbfxmo", "xvdbfxmp", "xvda1", "xvda15", "xvda16",
	"xvda255", "xvda256", "xvda0", "xvda01", "xvda+1", "xvda-1", "xvda-0", "xvda 1", "xvda\t1", "xvda1x", "xvdA",
	"xvdq", "xvdp15", "xvdq1", "xvd1", "hd", "hda", "hdb", "hdc", "hdd", "hde", "hda63", "hda64", "hd5", "hdaa",
	"sd", "sda", "sdp", "sdq", "sda15", "sda16", "sdaa", "d0p0", "d1p2", "d15p15", "d16p0", "d1p16", "d1p255",
	"d1p256", "d1048575p0", "d1048576p0", "d-1p0", "d1p-1", "d 1p2", "d0x1p0x2", "d010p1", "d1p", "dp1", "d1p2x",
	"vda", "xda", "foo", "xvda:cdrom",
}

func compare(t *testing.T, v string) {
	t.Helper()
	want := DevNumber(v)
	got, err := devspec.VdevNumber(v)
	if want < 0 {
		if err == nil {
			t.Errorf("%q: libxl rejects it (%d), devspec gives %d", v, want, got)
		}
		return
	}
	if err != nil || int(got) != want {
		t.Errorf("%q: libxl %d, devspec %d (%v)", v, want, got, err)
	}
}

func TestVdevNumberAgainstLibxl(t *testing.T) {
	for _, v := range vdevCorpus {
		compare(t, v)
	}
	rng := rand.New(rand.NewSource(5))
	atoms := []string{"xvd", "hd", "sd", "d", "p", "a", "b", "c", "p", "q", "z", "0", "1", "5", "15", "16", "63", "64", "255", "256", "+", "-", " ", "x"}
	for i := 0; i < 20000; i++ {
		var b strings.Builder
		for k := rng.Intn(5); k >= 0; k-- {
			b.WriteString(atoms[rng.Intn(len(atoms))])
		}
		compare(t, b.String())
	}
}
