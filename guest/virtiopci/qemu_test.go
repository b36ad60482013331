package virtiopci

import (
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/unikit/unikit/guest/pci"
	"github.com/unikit/unikit/guest/pci/pcitest"
)

// Configuration spaces of QEMU 7.2's virtio-net-pci on the x86 "pc" machine, read in a guest
// (Debian's 6.1 kernel) from sysfs after binding to uio_pci_generic: the capability list is
// MSI-X at 0x98, the PCI_CFG window at 0x84, notify at 0x70 (multiplier 4), device at 0x60,
// ISR at 0x50 and common at 0x40, all in BAR4.
const (
	// qemuTransitional is the default device, 1af4:1000 with an I/O BAR0.
	qemuTransitional = "" +
		"f41a0010030110000000000200000000" +
		"01c000000010bffe0000000000000000" +
		"0c0000fe0000000000000000f41a0100" +
		"0000000098000000000000000b010000" +
		"09001001040000000000000000100000" +
		"09401003040000000010000000100000" +
		"09501004040000000020000000100000" +
		"09601402040000000030000000100000" +
		"04000000097014050000000000000000" +
		"00000000000000001184030001000000" +
		"01080000000000000000000000000000" +
		""
	// qemuModern is the device with disable-legacy=on, 1af4:1041 without BAR0.
	qemuModern = "" +
		"f41a4110030110000100000200000000" +
		"000000000010bffe0000000000000000" +
		"0c0000fe0000000000000000f41a0011" +
		"0000000098000000000000000b010000" +
		"09001001040000000000000000100000" +
		"09401003040000000010000000100000" +
		"09501004040000000020000000100000" +
		"09601402040000000030000000100000" +
		"04000000097014050000000000000000" +
		"00000000000000001184030001000000" +
		"01080000000000000000000000000000" +
		""
)

// configSpace decodes a dump above: the bytes given, then zeros up to 256.
func configSpace(t testing.TB, dump string) []byte {
	t.Helper()
	b, err := hex.DecodeString(dump)
	if err != nil || len(b) > 256 {
		t.Fatalf("bad configuration space dump: %v, %d bytes", err, len(b))
	}
	return append(b, make([]byte, 256-len(b))...)
}

var qemuAddr = pci.Addr{Device: 3}

// qemuResources are the BARs of those devices: I/O BAR0 (transitional only), MSI-X BAR1 and
// the 16 KiB BAR4.
func qemuResources(transitional bool) []pci.Resource {
	rs := []pci.Resource{
		{Start: 0xc000, End: 0xc01f, Flags: 0x40101},
		{Start: 0xfebf1000, End: 0xfebf1fff, Flags: 0x40200},
		{}, {},
		{Start: 0xfe000000, End: 0xfe003fff, Flags: 0x14220c},
	}
	if !transitional {
		rs[0] = pci.Resource{}
	}
	return rs
}

// qemuFunction is a fake sysfs function with QEMU's configuration space and BARs.
func qemuFunction(t testing.TB, transitional bool) pcitest.Function {
	t.Helper()
	dump := qemuModern
	if transitional {
		dump = qemuTransitional
	}
	cfg := configSpace(t, dump)
	return pcitest.Function{
		Addr:            qemuAddr,
		Vendor:          binary.LittleEndian.Uint16(cfg[0:]),
		Device:          binary.LittleEndian.Uint16(cfg[2:]),
		SubsystemVendor: binary.LittleEndian.Uint16(cfg[0x2c:]),
		SubsystemDevice: binary.LittleEndian.Uint16(cfg[0x2e:]),
		Class:           0x020000,
		Config:          cfg,
		Resources:       qemuResources(transitional),
	}
}

// writeBAR4 puts register values into the fake BAR4 file: what QEMU's common configuration
// would show (3 queues of 256, the features offered with user networking, the device status)
// and the MAC.
func writeBAR4(t testing.TB, sysRoot string, status byte) {
	t.Helper()
	bar := make([]byte, 0x4000)
	bar[0x14] = status
	binary.LittleEndian.PutUint32(bar[0x04:], 0x30bf8024) // device_feature, for either select
	binary.LittleEndian.PutUint16(bar[0x12:], 3)          // num_queues
	binary.LittleEndian.PutUint16(bar[0x18:], 256)        // queue_size
	copy(bar[0x2000:], []byte{0x52, 0x54, 0, 0x12, 0x34, 0x56})
	path := filepath.Join(pcitest.Dir(sysRoot, qemuAddr), "resource4")
	if err := os.WriteFile(path, bar, 0o600); err != nil {
		t.Fatal(err)
	}
}
