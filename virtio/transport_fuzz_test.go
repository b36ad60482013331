package virtio_test

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/unikit/unikit/virtio"
	"github.com/unikit/unikit/virtio/virtiotest"
)

// overlay is a register window of the device model in which some registers read as the
// fuzzer says: a device that lies in its registers rather than in its rings.
type overlay struct {
	virtio.Registers
	over map[uint32]uint32
}

func (o overlay) Read8(off uint32) uint8 {
	if v, ok := o.over[off]; ok {
		return uint8(v)
	}
	return o.Registers.Read8(off)
}

func (o overlay) Read16(off uint32) uint16 {
	if v, ok := o.over[off]; ok {
		return uint16(v)
	}
	return o.Registers.Read16(off)
}

func (o overlay) Read32(off uint32) uint32 {
	if v, ok := o.over[off]; ok {
		return v
	}
	return o.Registers.Read32(off)
}

// overrides decodes the fuzzer's input as 6-byte records: a window (0 the MMIO registers, 1
// the PCI configuration space, 2 the BARs), an offset byte (in 4-byte units in the MMIO
// window and the BARs, in bytes in the 256-byte configuration space) and a 32-bit value.
func overrides(data []byte) (mmio, cfg, bar map[uint32]uint32) {
	mmio, cfg, bar = map[uint32]uint32{}, map[uint32]uint32{}, map[uint32]uint32{}
	for ; len(data) >= 6; data = data[6:] {
		off, v := uint32(data[1]), binary.LittleEndian.Uint32(data[2:])
		switch data[0] % 3 {
		case 0:
			mmio[off*4] = v
		case 1:
			cfg[off] = v
		case 2:
			bar[off*4] = v
		}
	}
	return mmio, cfg, bar
}

// FuzzTransports brings a virtio-net driver up over virtio-mmio and virtio-pci against the
// device model with registers overridden by the fuzzer: magic, version, device ID, feature
// words, queue maxima, status, capability list, capability offsets and lengths, the
// configuration generation. Whatever they say, the driver comes up or returns an error, never
// panics, and never waits forever.
func FuzzTransports(f *testing.F) {
	rec := func(window, off byte, v uint32) []byte {
		return binary.LittleEndian.AppendUint32([]byte{window, off}, v)
	}
	f.Add([]byte{})
	f.Add(rec(0, virtio.MMIOVersion/4, 1))                   // legacy MMIO
	f.Add(rec(0, virtio.MMIOQueueNumMax/4, 0xffffffff))      // absurd queue maximum
	f.Add(rec(0, virtio.MMIOStatus/4, 0xff))                 // status never resets
	f.Add(rec(0, virtio.MMIOConfigGeneration/4, 0x12345678)) // odd generation
	f.Add(rec(1, virtio.PCIConfigCapPointer, 0x44))          // capability pointer mid-capability
	f.Add(append(rec(1, 0x40+virtio.PCICapLength, 4), rec(2, virtio.PCICommonNumQueues/4, 0xffff)...))
	f.Add(rec(2, virtio.PCICommonQueueSize/4, 0x10000))
	f.Fuzz(func(t *testing.T, data []byte) {
		mmio, cfg, bar := overrides(data)
		mem := virtio.NewArena(1<<20, 0x10000)
		offered := uint64(virtio.FeatureVersion1 | virtio.FeatureEventIdx | virtio.FeatureRingPacked |
			virtio.NetFMAC | virtio.NetFStatus | virtio.NetFMTU | virtio.NetFMrgRxbuf | virtio.NetFCsum)
		config := []byte{2, 0, 0, 0, 0, 1, 1, 0, 1, 0, 0xdc, 0x05}
		for _, transport := range []func(*virtiotest.Device) (virtio.Transport, error){
			func(d *virtiotest.Device) (virtio.Transport, error) {
				return virtio.NewMMIO(overlay{d.MMIO(), mmio})
			},
			func(d *virtiotest.Device) (virtio.Transport, error) {
				return virtio.NewPCI(overlay{d.PCIConfig(), cfg}, func(i int) (virtio.Registers, uint64, error) {
					r, size, err := d.BAR(i)
					if err != nil {
						return nil, 0, err
					}
					return overlay{r, bar}, size, nil
				})
			},
		} {
			d := virtiotest.NewDevice(mem, virtio.DeviceNet, offered, config, 2, 64)
			tr, err := transport(d)
			var n *virtio.Net
			if err == nil {
				n, err = virtio.NewNet(tr, mem, &virtio.NetConfig{QueueSize: 16})
			}
			if len(data) == 0 {
				require.NoError(t, err, "the device model without overrides") // the harness reaches the driver
			}
			if err != nil {
				continue
			}
			_ = n.MTU()
			_ = n.MAC()
			n.Close()
		}
	})
}
