package xenbus

import (
	"errors"
	"testing"

	"github.com/xfeat/xfeat/pv"
)

// classify reads the device in the order of backendTable; a read that
// fails is an event of its own, never "online" or some state.
func TestClassify(t *testing.T) {
	bad := errors.New("xenstore: EIO")
	up := func(front pv.State) deviceView { return deviceView{online: true, own: pv.InitWait, front: front} }
	changed := func(front pv.State) deviceView {
		v := up(front)
		v.requestsChanged = true
		return v
	}
	for _, c := range []struct {
		name string
		v    deviceView
		last pv.State
		want event
	}{
		{"online unreadable", deviceView{backendErr: bad}, pv.Connected, evReadFailed},
		{"directory removed", deviceView{dirGone: true}, pv.Connected, evGone},
		{"written anew", deviceView{online: true, own: pv.Initialising}, pv.Connected, evRewritten},
		{"first look", deviceView{online: true, own: pv.Initialising, front: pv.Initialising}, pv.Unknown, evFrontendRestarts},
		{"online=0", deviceView{online: false, own: pv.Connected, front: pv.Connected}, pv.Connected, evTeardown},
		{"libxl wrote Closing", deviceView{online: true, own: pv.Closing, front: pv.Connected}, pv.Connected, evTeardown},
		{"our own Closing", deviceView{online: true, own: pv.Closing, front: pv.Closing}, pv.Closing, evFrontendClosing},
		{"Closing over our Closed", deviceView{online: false, own: pv.Closing}, pv.Closed, evTeardown},
		{"closed as asked", deviceView{online: false, own: pv.Closed, front: pv.Initialising}, pv.Closed, evClosedAsAsked},
		{"teardown before a hostile frontend", deviceView{online: false, own: pv.Connected, frontendErr: bad}, pv.Connected, evTeardown},
		{"frontend gone", deviceView{online: true, own: pv.Connected, frontendGone: true}, pv.Connected, evFrontendGone},
		{"frontend state garbage", deviceView{online: true, own: pv.Connected, frontendErr: bad}, pv.Connected, evReadFailed},
		{"frontend ready", up(pv.Initialised), pv.InitWait, evFrontendReady},
		{"frontend connected", up(pv.Connected), pv.InitWait, evFrontendReady},
		{"frontend closing", up(pv.Closing), pv.Connected, evFrontendClosing},
		{"frontend closed", up(pv.Closed), pv.Connected, evFrontendClosed},
		{"frontend waits", up(pv.InitWait), pv.InitWait, evNone},
		{"requests written before the frontend starts", changed(pv.Initialising), pv.InitWait, evRequestsChanged},
		{"requests written, no frontend state yet", changed(pv.Unknown), pv.InitWait, evRequestsChanged},
		{"requests written once the frontend started", changed(pv.Initialised), pv.InitWait, evFrontendReady},
		{"requests written after we closed", changed(pv.Initialising), pv.Closed, evFrontendRestarts},
	} {
		if got := classify(c.v, c.last); got != c.want {
			t.Errorf("%s: event %d, want %d", c.name, got, c.want)
		}
	}
}

// The table's rows, by what was last written; a failed device only
// follows the toolstack.
func TestBackendTable(t *testing.T) {
	for _, c := range []struct {
		ev     event
		last   pv.State
		failed bool
		ok     bool
		do     action
		writes pv.State
	}{
		{evGone, pv.Connected, true, true, actStop, pv.Absent},
		{evRewritten, pv.Connected, true, true, actAgain, pv.Absent},
		{evRewritten, pv.Unknown, false, false, 0, 0},
		{evTeardown, pv.Closed, true, true, actDisconnect, pv.Closed},
		{evClosedAsAsked, pv.Closed, false, true, actNothing, pv.Absent},
		{evFrontendGone, pv.Connected, true, true, actDisconnect, pv.Closed},
		{evFrontendGone, pv.Closed, false, false, 0, 0},
		{evReadFailed, pv.Connected, false, true, actFail, pv.Closing},
		{evReadFailed, pv.Closed, false, false, 0, 0},
		{evReadFailed, pv.Closing, true, false, 0, 0},
		{evRequestsChanged, pv.InitWait, false, true, actProbe, pv.Absent},
		{evRequestsChanged, pv.InitWait, true, false, 0, 0},
		{evRequestsChanged, pv.Connected, false, false, 0, 0},
		{evFrontendReady, pv.InitWait, false, true, actConnect, pv.Connected},
		{evFrontendReady, pv.InitWait, true, false, 0, 0},
		{evFrontendReady, pv.Connected, false, false, 0, 0},
		{evFrontendReady, pv.Closed, false, false, 0, 0},
		{evFrontendRestarts, pv.Closed, false, true, actNothing, pv.InitWait},
		{evFrontendRestarts, pv.InitWait, false, false, 0, 0},
		{evFrontendClosing, pv.Connected, false, true, actDisconnect, pv.Closing},
		{evFrontendClosing, pv.Closing, false, false, 0, 0},
		{evFrontendClosed, pv.Closing, false, true, actDisconnect, pv.Closed},
		{evFrontendClosed, pv.Closed, false, false, 0, 0},
		{evNone, pv.Connected, false, false, 0, 0},
	} {
		tr, ok := lookup(c.ev, c.last, c.failed)
		if ok != c.ok || ok && (tr.do != c.do || tr.writes != c.writes) {
			t.Errorf("event %d after %s (failed %v): %+v %v, want %v %d %s", c.ev, c.last, c.failed, tr, ok, c.ok, c.do, c.writes)
		}
	}
}
