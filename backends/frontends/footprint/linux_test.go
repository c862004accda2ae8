package footprint

import "testing"

// What Linux's frontends take, with the arithmetic xfeat-create(1)
// documents, for what stock Linux backends offer (netback: max_queues =
// dom0's vcpus, split event channels; blkback: max_queues, order 4, 256
// indirect segments) and the guest's own bounds.
func TestLinuxFrontends(t *testing.T) {
	two := LinuxGuest{VCPUs: 2}
	for _, tc := range []struct {
		name  string
		got   Use
		want  Use
		sayer interface{ String() string }
		says  string
	}{
		// netfront: per queue 256 tx + 256 rx slot grants and 2 ring pages.
		{"vif, 2 vcpus, 2 queues offered, split", two.Vif(Vif{Queues: 2, Split: true}).Use(), Use{Grants: 1028, EventChannels: 4},
			two.Vif(Vif{Queues: 2, Split: true}), "2 queue(s) × (2 × 256 slot grants + 2 ring pages) = 1028 grants, 4 event channel(s)"},
		// The guest's max_queues (its vcpus) bounds what is offered.
		{"vif, 2 vcpus, 16 offered", two.Vif(Vif{Queues: 16}).Use(), Use{Grants: 1028, EventChannels: 2}, nil, ""},
		{"vif, 16 vcpus: at most 8", LinuxGuest{VCPUs: 16}.Vif(Vif{Queues: 16}).Use(), Use{Grants: 8 * 514, EventChannels: 8}, nil, ""},
		{"vif, max_queues=1", LinuxGuest{VCPUs: 2, NetMaxQueues: 1}.Vif(Vif{Queues: 2}).Use(), Use{Grants: 514, EventChannels: 1}, nil, ""},
		{"vif, 1 queue offered", two.Vif(Vif{Queues: 1}).Use(), Use{Grants: 514, EventChannels: 1}, nil, ""},
		// blkfront defaults: order 0, 32 segments (+1 indirect page):
		// per ring 1 + 32 × 33.
		{"vbd, 2 vcpus, stock offers", two.Vbd(Vbd{Queues: 2, RingPageOrder: 4, IndirectSegments: 256}).Use(), Use{Grants: 2 * (1 + 32*33), EventChannels: 2},
			two.Vbd(Vbd{Queues: 2, RingPageOrder: 4, IndirectSegments: 256}), "2 ring(s) × (1 ring page(s) + 32 requests × 33 grants) = 2114 grants, 2 event channel(s)"},
		// max_ring_page_order=2 in the guest: 4 pages, 128 requests.
		{"vbd, order 2 allowed", LinuxGuest{VCPUs: 2, BlkMaxRingPageOrder: 2}.Vbd(Vbd{Queues: 1, RingPageOrder: 4, IndirectSegments: 256}).Use(),
			Use{Grants: 4 + 128*33, EventChannels: 1}, nil, ""},
		// No indirect descriptors offered: 11 segments a request.
		{"vbd, minimum", two.Vbd(Vbd{Queues: 1}).Use(), Use{Grants: 1 + 32*11, EventChannels: 1}, nil, ""},
		// 11 or fewer indirect segments are none.
		{"vbd, 11 indirect", two.Vbd(Vbd{Queues: 1, IndirectSegments: 11}).Use(), Use{Grants: 1 + 32*11, EventChannels: 1}, nil, ""},
		// 600 segments allowed and offered: 2 indirect pages a request.
		{"vbd, 600 segments", LinuxGuest{VCPUs: 1, BlkMaxIndirectSegments: 600}.Vbd(Vbd{Queues: 4, IndirectSegments: 4096}).Use(),
			Use{Grants: 1 + 32*602, EventChannels: 1}, nil, ""},
		// blkfront's max_queues is 4 by default, at most the vcpus.
		{"vbd, 8 vcpus", LinuxGuest{VCPUs: 8}.Vbd(Vbd{Queues: 8}).Use(), Use{Grants: 4 * 353, EventChannels: 4}, nil, ""},
		{"vbd, 0 queues offered", two.Vbd(Vbd{}).Use(), Use{Grants: 353, EventChannels: 1}, nil, ""},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, tc.got, tc.want)
		}
		if tc.sayer != nil && tc.sayer.String() != tc.says {
			t.Errorf("%s: %q, want %q", tc.name, tc.sayer.String(), tc.says)
		}
	}
	if NetSlots != 256 {
		t.Errorf("a one-page netif ring has %d slots, want 256", NetSlots)
	}
}
