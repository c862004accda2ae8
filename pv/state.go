package pv

import (
	"errors"
	"fmt"
	"strconv"
)

// State is a XenbusState (xen/include/public/io/xenbus.h), as both ends of a
// device write it in their state node.
type State int

// XenbusState values, and Absent.
const (
	Unknown       State = 0
	Initialising  State = 1
	InitWait      State = 2
	Initialised   State = 3
	Connected     State = 4
	Closing       State = 5
	Closed        State = 6
	Reconfiguring State = 7
	Reconfigured  State = 8

	// Absent stands for a state node that does not exist (or holds no
	// state) where a reader must tell that apart from Unknown: the
	// toolstack's view of a device. It never appears on the wire; a
	// driver reads an absent node as Unknown, as Linux does.
	Absent State = -1
)

var stateNames = [...]string{"Unknown", "Initialising", "InitWait", "Initialised", "Connected", "Closing", "Closed", "Reconfiguring", "Reconfigured"}

// String returns the name xenbus.h gives s (XenbusStateX without the
// prefix), "absent" for Absent.
func (s State) String() string {
	if s == Absent {
		return "absent"
	}
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "state " + strconv.Itoa(int(s))
}

// Valid reports whether s is one of the values xenbus.h defines.
func (s State) Valid() bool { return s >= Unknown && s <= Reconfigured }

// Value is s as a state node holds it: its decimal number, as Linux's
// xenbus_switch_state writes it.
func (s State) Value() string { return strconv.Itoa(int(s)) }

// ErrBadState is wrapped by errors about a state node whose value is not a
// XenbusState.
var ErrBadState = errors.New("not a xenbus state")

// ParseState reads the value of a state node. Leading and trailing spaces
// are not accepted, as Linux's xenbus_read_driver_state (sscanf "%d") would
// read only a prefix; a peer that writes anything but a plain decimal state
// is misbehaving and gets an error.
func ParseState(v string) (State, error) {
	n, err := strconv.Atoi(v)
	if err != nil || !State(n).Valid() || strconv.Itoa(n) != v {
		return Unknown, fmt.Errorf("%w: %q", ErrBadState, v)
	}
	return State(n), nil
}
