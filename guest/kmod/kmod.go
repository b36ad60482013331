package kmod

// DefaultDir is where an image built for package guest keeps its kernel modules: the
// directory the image builder writes them to and the one [LoadFrom] callers pass by default.
// The tree under it may be flat or mirror /lib/modules/VERSION/kernel.
const DefaultDir = "/lib/modules"

// LoadFrom scans dir ([Scan]) and loads the named modules with their dependencies
// ([Index.Load]).
func LoadFrom(dir string, names ...string) error {
	ix, err := Scan(dir)
	if err != nil {
		return err
	}
	return ix.Load(names...)
}
