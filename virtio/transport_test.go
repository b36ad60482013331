package virtio_test

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/virtio"
	"github.com/unikit/unikit/virtio/virtiotest"
)

// transports returns the device's virtio-mmio and virtio-pci transports.
func transports(t *testing.T, dev *virtiotest.Device) map[string]virtio.Transport {
	m, err := virtio.NewMMIO(dev.MMIO())
	require.NoError(t, err)
	p, err := virtio.NewPCI(dev.PCIConfig(), dev.BAR)
	require.NoError(t, err)
	return map[string]virtio.Transport{"mmio": m, "pci": p}
}

func TestNegotiate(t *testing.T) {
	mem := virtio.NewArena(1<<16, 0)
	offered := uint64(virtio.FeatureVersion1 | virtio.FeatureEventIdx | virtio.NetFMAC | virtio.NetFCsum | 1<<40)
	dev := virtiotest.NewDevice(mem, virtio.DeviceNet, offered, []byte{1, 2, 3, 4, 5, 6}, 2, 64)
	for name, tr := range transports(t, dev) {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, uint32(virtio.DeviceNet), tr.DeviceID())
			require.Equal(t, offered, tr.DeviceFeatures())
			got, err := virtio.Negotiate(tr, func(o uint64) uint64 {
				require.Equal(t, offered, o)
				return virtio.NetFMAC | virtio.NetFMQ // MQ is not offered: dropped
			})
			require.NoError(t, err)
			require.Equal(t, uint64(virtio.FeatureVersion1|virtio.NetFMAC), got)
			require.Equal(t, got, dev.DriverFeatures())
			require.Equal(t, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK, tr.Status())
			var mac [6]byte
			require.NoError(t, virtio.ReadConfigConsistent(tr, 0, mac[:]))
			require.Equal(t, [6]byte{1, 2, 3, 4, 5, 6}, mac)
			require.Equal(t, 64, tr.QueueMax(0))
			require.Equal(t, 64, tr.QueueMax(1))
			require.Zero(t, tr.QueueMax(2))
			q, err := virtio.NewSplitQueue(mem, 16, nil)
			require.NoError(t, err)
			d, dr, dv := q.Addrs()
			require.NoError(t, tr.EnableQueue(0, 16, d, dr, dv))
			require.Error(t, tr.EnableQueue(1, 128, d, dr, dv), "larger than the maximum")
			require.NoError(t, virtio.DriverOK(tr))
			require.Equal(t, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK|virtio.StatusDriverOK, dev.Status())
			// Reset clears everything.
			tr.SetStatus(0)
			require.Zero(t, tr.Status())
			require.Zero(t, dev.DriverFeatures())
		})
	}
}

func TestNegotiateRefusals(t *testing.T) {
	mem := virtio.NewArena(1<<16, 0)
	legacy := virtiotest.NewDevice(mem, 1, virtio.NetFMAC, nil, 2, 64)
	for name, tr := range transports(t, legacy) {
		_, err := virtio.Negotiate(tr, func(o uint64) uint64 { return o })
		require.ErrorIs(t, err, virtio.ErrUnsupported, name)
		require.NotZero(t, tr.Status()&virtio.StatusFailed, name)
	}
	picky := virtiotest.NewDevice(mem, 1, virtio.FeatureVersion1, nil, 2, 64)
	picky.RejectFeatures(true)
	for name, tr := range transports(t, picky) {
		_, err := virtio.Negotiate(tr, func(o uint64) uint64 { return o })
		require.ErrorIs(t, err, virtio.ErrFeaturesRejected, name)
		require.NotZero(t, tr.Status()&virtio.StatusFailed, name)
	}
}

// TestConfigGeneration reads configuration that changes during the read.
func TestConfigGeneration(t *testing.T) {
	mem := virtio.NewArena(1<<16, 0)
	dev := virtiotest.NewDevice(mem, 1, virtio.FeatureVersion1, make([]byte, 16), 2, 64)
	for name, tr := range transports(t, dev) {
		var b [10]byte
		dev.ChurnGeneration(5) // the generation changes during the first reads
		require.NoError(t, virtio.ReadConfigConsistent(tr, 0, b[:]), name)
		dev.ChurnGeneration(1 << 20) // and never settles
		err := virtio.ReadConfigConsistent(tr, 0, b[:])
		require.ErrorIs(t, err, virtio.ErrDeviceBroken, name)
		dev.ChurnGeneration(0)
		dev.SetConfig(8, []byte{0xaa, 0xbb})
		require.NoError(t, virtio.ReadConfigConsistent(tr, 0, b[:]), name)
		require.Equal(t, uint16(0xbbaa), binary.LittleEndian.Uint16(b[8:]), name)
	}
}

func TestMMIOProbe(t *testing.T) {
	_, err := virtio.NewMMIO(fakeRegs{virtio.MMIOMagicValue: 0x12345678})
	require.ErrorIs(t, err, virtio.ErrUnsupported)
	_, err = virtio.NewMMIO(fakeRegs{virtio.MMIOMagicValue: virtio.MMIOMagic, virtio.MMIOVersion: 1})
	require.ErrorIs(t, err, virtio.ErrUnsupported, "legacy virtio-mmio")
	_, err = virtio.NewMMIO(fakeRegs{virtio.MMIOMagicValue: virtio.MMIOMagic, virtio.MMIOVersion: 2})
	require.ErrorIs(t, err, virtio.ErrUnsupported, "device ID 0: empty slot")
}

// TestPCICapabilities presents malformed capability lists.
func TestPCICapabilities(t *testing.T) {
	mem := virtio.NewArena(1<<16, 0)
	newDev := func() *virtiotest.Device { return virtiotest.NewDevice(mem, 1, virtio.FeatureVersion1, nil, 2, 64) }
	const common = 0x40 // the model's first capability (common configuration)
	for _, tc := range []struct {
		name  string
		patch func(d *virtiotest.Device)
		want  error
	}{
		{"bar 6 ignored: common missing", func(d *virtiotest.Device) { d.PatchPCIConfig(common+virtio.PCICapBAR, []byte{6}) }, virtio.ErrUnsupported},
		{"offset outside BAR", func(d *virtiotest.Device) {
			d.PatchPCIConfig(common+virtio.PCICapOffset, binary.LittleEndian.AppendUint32(nil, virtiotest.PCIBARSize-8))
		}, virtio.ErrDeviceBroken},
		{"length overflows", func(d *virtiotest.Device) {
			d.PatchPCIConfig(common+virtio.PCICapLength, binary.LittleEndian.AppendUint32(nil, 0xffffffff))
		}, virtio.ErrDeviceBroken},
		{"capability loop", func(d *virtiotest.Device) { d.PatchPCIConfig(common+1, []byte{common}) }, virtio.ErrUnsupported},
		{"pointer into header", func(d *virtiotest.Device) { d.PatchPCIConfig(virtio.PCIConfigCapPointer, []byte{0x10}) }, virtio.ErrDeviceBroken},
		{"no capability list", func(d *virtiotest.Device) { d.PatchPCIConfig(virtio.PCIConfigStatus, []byte{0}) }, virtio.ErrUnsupported},
		{"not virtio", func(d *virtiotest.Device) { d.PatchPCIConfig(0, []byte{0x86, 0x80}) }, virtio.ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDev()
			tc.patch(d)
			_, err := virtio.NewPCI(d.PCIConfig(), d.BAR)
			require.ErrorIs(t, err, tc.want)
		})
	}
}

// fakeRegs is a register window that returns fixed values and ignores writes.
type fakeRegs map[uint32]uint32

func (f fakeRegs) Read8(off uint32) uint8   { return uint8(f[off]) }
func (f fakeRegs) Read16(off uint32) uint16 { return uint16(f[off]) }
func (f fakeRegs) Read32(off uint32) uint32 { return f[off] }
func (f fakeRegs) Write8(uint32, uint8)     {}
func (f fakeRegs) Write16(uint32, uint16)   {}
func (f fakeRegs) Write32(uint32, uint32)   {}
