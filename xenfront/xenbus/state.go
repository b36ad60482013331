package xenbus

import (
	"strconv"

	"github.com/unikit/unikit/xenfront/xenstore"
)

// State is the value of a split device's "state" key (enum xenbus_state, io/xenbus.h).
type State int

// State values (io/xenbus.h).
const (
	StateUnknown       State = 0
	StateInitialising  State = 1
	StateInitWait      State = 2
	StateInitialised   State = 3
	StateConnected     State = 4
	StateClosing       State = 5
	StateClosed        State = 6
	StateReconfiguring State = 7
	StateReconfigured  State = 8
)

var stateNames = [...]string{"Unknown", "Initialising", "InitWait", "Initialised", "Connected",
	"Closing", "Closed", "Reconfiguring", "Reconfigured"}

// String returns the state's name in io/xenbus.h.
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "XenbusState(" + strconv.Itoa(int(s)) + ")"
}

// ParseState parses a state key's value strictly (a decimal 0..8); anything else is
// StateUnknown and xenstore.ErrBadValue.
func ParseState(v string) (State, error) {
	n, err := xenstore.ParseUint(v, uint64(StateReconfigured))
	if err != nil {
		return StateUnknown, err
	}
	return State(n), nil
}

// ReadState reads the state key at path outside any transaction; a missing or malformed key
// reads as StateUnknown (Linux's xenbus_read_driver_state).
func ReadState(st xenstore.Store, path string) State {
	v, err := st.Read(0, path)
	if err != nil {
		return StateUnknown
	}
	s, err := ParseState(v)
	if err != nil {
		return StateUnknown
	}
	return s
}

// WriteState sets the state key at path to s, outside any transaction (xenbus_switch_state).
func WriteState(st xenstore.Store, path string, s State) error {
	return st.Write(0, path, strconv.Itoa(int(s)))
}
