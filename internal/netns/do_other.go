//go:build !linux

package netns

import "os/exec"

// Do returns [ErrNotLinux]: only Linux has network namespaces.
func (n *NS) Do(fn func() error) error { return ErrNotLinux }

func killGroup(cmd *exec.Cmd) {}
