//go:build !linux

package appliance

// memoryAvailable returns 0: only Linux tells the process how much memory it may use.
func memoryAvailable() (int64, string) { return 0, "" }
