package footprint

import "testing"

// The figures xfeat-create(1) states, from the arithmetic it documents.
func TestUse(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  Use
		want Use
	}{
		// 4 × (16 ring pages + 2048 data pages + 512 indirect pages);
		// nodes: 3 + 4 × (16 refs + event-channel) + 4 queue-N dirs.
		{"vbd 4 queues, order 4, 256 segments", Vbd{4, 4, 256}.Use(), Use{10304, 10304, 4, 75}},
		// 4096 segments offered: blkfront uses 256, one indirect page each.
		{"vbd 4 queues, order 4, 4096 segments", Vbd{4, 4, 4096}.Use(), Use{10304, 10304, 4, 75}},
		{"vbd 4 queues, order 4, direct", Vbd{4, 4, 0}.Use(), Use{8256, 8256, 4, 75}},
		// 1 ring page + 32 × 11 data pages; ring-ref, event-channel.
		{"vbd minimum", Vbd{1, 0, 0}.Use(), Use{353, 353, 1, 5}},
		{"vbd 0 queues offered counts as 1", Vbd{0, 0, 0}.Use(), Use{353, 353, 1, 5}},
		// 11 segments or fewer: no indirect descriptors.
		{"vbd 11 segments", Vbd{1, 0, 11}.Use(), Use{353, 353, 1, 5}},
		{"vbd 2 queues, order 2, 32 segments", Vbd{2, 2, 32}.Use(), Use{2 * (4 + 1408 + 128), 2 * (4 + 1408 + 128), 2, 3 + 2*5 + 2}},
		// Orders beyond 4 are used as 4.
		{"vbd order 9", Vbd{1, 9, 0}.Use(), Use{2064, 2064, 1, 20}},
		{"vif 1 queue", Vif{1, false, false}.Use(), Use{514, 514, 1, 11}},
		{"vif 4 queues, split, multicast", Vif{4, true, true}.Use(), Use{2056, 2056, 8, 8 + 16 + 4 + 1}},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, tc.got, tc.want)
		}
	}
	if g, p := Grants(64), GuestPages(64); g != 32760 || p != 32768 {
		t.Errorf("64 frames: %d grants, %d pages", g, p)
	}
	if g, p := Grants(1024), GuestPages(1024); g != 524280 || p != 65536 {
		t.Errorf("1024 frames: %d grants, %d pages", g, p)
	}
	if got := (Use{1, 2, 3, 4}).Add(Use{10, 20, 30, 40}).Sub(Use{1, 2, 3, 4}); got != (Use{10, 20, 30, 40}) {
		t.Errorf("Add/Sub: %+v", got)
	}
}
