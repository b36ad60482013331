package kmod

import (
	"fmt"
	"strings"
)

// Source is a set of modules that [Order] resolves names in: an [Index], or an image builder's
// view of a kernel's whole module tree that reads a module's dependencies only when it is
// asked for that module.
type Source interface {
	// Lookup returns the module with the normalised name and whether the source has a file
	// for it; an error means the file is there but cannot be read as a module.
	Lookup(name string) (Module, bool, error)
	// Builtin reports whether the module with the normalised name is built into the kernel.
	Builtin(name string) bool
}

// Order returns the modules to load, in order, so that the named ones can be: every module
// after all of its dependencies, each once, depth first in the order the names and each
// module's depends= list them. Built-in modules are left out. A module that is neither built in
// nor in src is an error wrapping [ErrNotFound] that names the chain of modules that needed
// it, and a cycle one wrapping [ErrCycle] that names the cycle.
func Order(src Source, names ...string) ([]Module, error) {
	o := orderer{src: src, state: map[string]visitState{}}
	for _, n := range names {
		if err := o.visit(Normalize(n), nil); err != nil {
			return nil, err
		}
	}
	return o.order, nil
}

// visitState marks a module's progress through the depth-first walk.
type visitState uint8

const (
	unvisited visitState = iota
	visiting             // on the current path: meeting it again closes a cycle
	visited              // in the order already, or built in
)

// orderer is one walk of Order.
type orderer struct {
	src   Source
	state map[string]visitState
	order []Module
}

// visit appends name to the order after everything it depends on; from is the chain of
// modules that led to it.
func (o *orderer) visit(name string, from []string) error {
	switch o.state[name] {
	case visited:
		return nil
	case visiting:
		return fmt.Errorf("%w: %s", ErrCycle, strings.Join(append(from, name), " -> "))
	}
	if o.src.Builtin(name) {
		o.state[name] = visited
		return nil
	}
	m, ok, err := o.src.Lookup(name)
	if err != nil {
		return err
	}
	if !ok {
		if len(from) > 0 {
			return fmt.Errorf("%w: %s (needed by %s)", ErrNotFound, name, strings.Join(from, " -> "))
		}
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	o.state[name] = visiting
	for _, d := range m.Depends {
		if err := o.visit(d, append(from[:len(from):len(from)], name)); err != nil {
			return err
		}
	}
	o.state[name] = visited
	o.order = append(o.order, m)
	return nil
}
