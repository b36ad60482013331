//go:build !linux

package vmimage

// lockDir takes no lock where flock is not used: kernels are fetched with apt-get, which runs
// on Linux only, so elsewhere FetchDebianKernel fails before it fills the cache.
func lockDir(string) (unlock func(), err error) {
	return func() {}, nil
}
