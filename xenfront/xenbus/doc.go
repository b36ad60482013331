// Package xenbus is the state protocol of Xen's split drivers (io/xenbus.h): a front end and
// its back end each publish a State under their device directory in xenstore ("state") and
// step through Initialising, InitWait, Initialised, Connected, Closing and Closed, each reacting
// to the other's changes through a xenstore watch.
//
// ParseState reads a state value strictly, since the other end's keys are untrusted;
// ReadState and WriteState read and switch a state key (Linux's xenbus_read_driver_state and
// xenbus_switch_state). What a driver does in each state belongs to the driver: package
// netfront's handshake and xentest's simulated netback.
package xenbus
