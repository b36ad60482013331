package dma

// Defaults of [Config].
const (
	// DefaultDir is where package guest mounts hugetlbfs with pagesize=2M.
	DefaultDir = "/dev/hugepages"
	// DefaultLimit bounds the huge pages one Memory maps: 64 MiB, several times what the
	// virtio-net driver needs with TSO (about 9 MiB).
	DefaultLimit = 64 << 20
)

// Config configures [OpenHugepages]. The zero value, like a nil *Config, uses hugetlbfs at
// [DefaultDir], up to [DefaultLimit] bytes, and raises the kernel's huge page pool as needed.
type Config struct {
	// Dir is a hugetlbfs mount with 2 MiB pages; empty means DefaultDir.
	Dir string
	// Limit is the most bytes of huge pages to map; zero means DefaultLimit.
	Limit int
	// NoReserve leaves the kernel's pool of huge pages (vm.nr_hugepages) as it is, instead
	// of growing it when it has too few free pages.
	NoReserve bool
	// ProcRoot and SysRoot are where proc and sysfs are mounted; empty means "/proc" and
	// "/sys".
	ProcRoot, SysRoot string
}

func (c *Config) withDefaults() Config {
	var d Config
	if c != nil {
		d = *c
	}
	if d.Dir == "" {
		d.Dir = DefaultDir
	}
	if d.Limit == 0 {
		d.Limit = DefaultLimit
	}
	if d.ProcRoot == "" {
		d.ProcRoot = "/proc"
	}
	if d.SysRoot == "" {
		d.SysRoot = "/sys"
	}
	return d
}
