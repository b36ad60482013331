package virtio_test

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/virtio"
)

// TestLayout pins sizes, offsets and bit values to VIRTIO 1.2 (sections 2.7, 4.1.4, 4.2.2,
// 5.1.3, 6) and to Linux's include/uapi/linux/virtio_ring.h, virtio_pci.h and virtio_net.h.
func TestLayout(t *testing.T) {
	require.Equal(t, 16, virtio.DescSize)
	require.Equal(t, 8, virtio.UsedElemSize)
	require.Equal(t, 518, virtio.SplitAvailSize(256)) // 6 + 2*256
	require.Equal(t, 2054, virtio.SplitUsedSize(256)) // 6 + 8*256
	require.Equal(t, 4096, virtio.DescSize*256)       // descriptor table of 256
	require.Equal(t, 1, virtio.DescFNext)
	require.Equal(t, 2, virtio.DescFWrite)
	require.Equal(t, 4, virtio.DescFIndirect)

	// Packed ring (section 2.8): pvirtq_desc flags and struct pvirtq_event_suppress.
	require.Equal(t, 0x80, virtio.PackedDescFAvail)
	require.Equal(t, 0x8000, virtio.PackedDescFUsed)
	require.Equal(t, []int{0, 1, 2}, []int{virtio.PackedEventEnable, virtio.PackedEventDisable, virtio.PackedEventDesc})
	require.Equal(t, 4, virtio.PackedEventSize)

	require.Equal(t, uint64(1)<<28, uint64(virtio.FeatureIndirectDesc))
	require.Equal(t, uint64(1)<<29, uint64(virtio.FeatureEventIdx))
	require.Equal(t, uint64(1)<<32, uint64(virtio.FeatureVersion1))
	require.Equal(t, uint64(1)<<34, uint64(virtio.FeatureRingPacked))
	for bit, f := range map[int]uint64{0: virtio.NetFCsum, 1: virtio.NetFGuestCsum, 3: virtio.NetFMTU,
		5: virtio.NetFMAC, 7: virtio.NetFGuestTSO4, 8: virtio.NetFGuestTSO6, 11: virtio.NetFHostTSO4,
		12: virtio.NetFHostTSO6, 15: virtio.NetFMrgRxbuf, 16: virtio.NetFStatus, 17: virtio.NetFCtrlVQ,
		22: virtio.NetFMQ} {
		require.Equal(t, uint64(1)<<bit, f, "net feature bit %d", bit)
	}
	require.Equal(t, []virtio.Status{1, 2, 4, 8, 64, 128}, []virtio.Status{virtio.StatusAcknowledge,
		virtio.StatusDriver, virtio.StatusDriverOK, virtio.StatusFeaturesOK,
		virtio.StatusDeviceNeedsReset, virtio.StatusFailed})

	mmio := []uint32{virtio.MMIOMagicValue, virtio.MMIOVersion, virtio.MMIODeviceID, virtio.MMIOVendorID,
		virtio.MMIODeviceFeatures, virtio.MMIODeviceFeaturesSel, virtio.MMIODriverFeatures,
		virtio.MMIODriverFeaturesSel, virtio.MMIOQueueSel, virtio.MMIOQueueNumMax, virtio.MMIOQueueNum,
		virtio.MMIOQueueReady, virtio.MMIOQueueNotify, virtio.MMIOInterruptStatus, virtio.MMIOInterruptACK,
		virtio.MMIOStatus, virtio.MMIOQueueDescLow, virtio.MMIOQueueDescHigh, virtio.MMIOQueueDriverLow,
		virtio.MMIOQueueDriverHigh, virtio.MMIOQueueDeviceLow, virtio.MMIOQueueDeviceHigh,
		virtio.MMIOConfigGeneration, virtio.MMIOConfig}
	require.Equal(t, []uint32{0x000, 0x004, 0x008, 0x00c, 0x010, 0x014, 0x020, 0x024, 0x030, 0x034, 0x038,
		0x044, 0x050, 0x060, 0x064, 0x070, 0x080, 0x084, 0x090, 0x094, 0x0a0, 0x0a4, 0x0fc, 0x100}, mmio)
	require.Equal(t, uint32(0x74726976), uint32(virtio.MMIOMagic))
	require.Equal(t, "virt", string(binary.LittleEndian.AppendUint32(nil, virtio.MMIOMagic)))

	pci := []uint32{virtio.PCICommonDFSelect, virtio.PCICommonDF, virtio.PCICommonGFSelect, virtio.PCICommonGF,
		virtio.PCICommonMSIX, virtio.PCICommonNumQueues, virtio.PCICommonStatus, virtio.PCICommonCfgGen,
		virtio.PCICommonQueueSelect, virtio.PCICommonQueueSize, virtio.PCICommonQueueMSIX,
		virtio.PCICommonQueueEnable, virtio.PCICommonQueueNotOff, virtio.PCICommonQueueDesc,
		virtio.PCICommonQueueDriver, virtio.PCICommonQueueDevice}
	require.Equal(t, []uint32{0, 4, 8, 12, 16, 18, 20, 21, 22, 24, 26, 28, 30, 32, 40, 48}, pci)
	require.Equal(t, []int{1, 2, 3, 4}, []int{virtio.PCICapCommonCfg, virtio.PCICapNotifyCfg,
		virtio.PCICapISRCfg, virtio.PCICapDeviceCfg})
	require.Equal(t, []int{3, 4, 8, 12, 16}, []int{virtio.PCICapCfgType, virtio.PCICapBAR, virtio.PCICapOffset,
		virtio.PCICapLength, virtio.PCICapNotifyMultiplier})
}

// TestDescriptorBytes checks what Add writes into shared memory, field by field.
func TestDescriptorBytes(t *testing.T) {
	mem := virtio.NewArena(1<<16, 0x10000)
	q, err := virtio.NewSplitQueue(mem, 8, nil)
	require.NoError(t, err)
	head, err := q.Add([]virtio.Buffer{{Addr: 0x1122334455667788, Len: 0x99aabbcc},
		{Addr: 0x2000, Len: 64, Write: true}}, 7)
	require.NoError(t, err)
	descAddr, availAddr, usedAddr := q.Addrs()
	require.Zero(t, descAddr%16)
	require.Zero(t, availAddr%2)
	require.Zero(t, usedAddr%4)
	desc, ok := mem.Slice(descAddr, 16*8)
	require.True(t, ok)
	d0 := desc[16*int(head):]
	require.Equal(t, uint64(0x1122334455667788), binary.LittleEndian.Uint64(d0[0:]), "addr at 0")
	require.Equal(t, uint32(0x99aabbcc), binary.LittleEndian.Uint32(d0[8:]), "len at 8")
	require.Equal(t, uint16(virtio.DescFNext), binary.LittleEndian.Uint16(d0[12:]), "flags at 12")
	next := binary.LittleEndian.Uint16(d0[14:])
	d1 := desc[16*int(next):]
	require.Equal(t, uint64(0x2000), binary.LittleEndian.Uint64(d1[0:]))
	require.Equal(t, uint16(virtio.DescFWrite), binary.LittleEndian.Uint16(d1[12:]))
	avail, ok := mem.Slice(availAddr, uint32(virtio.SplitAvailSize(8)))
	require.True(t, ok)
	require.Equal(t, uint16(0), binary.LittleEndian.Uint16(avail[0:]), "avail.flags")
	require.Equal(t, uint16(0), binary.LittleEndian.Uint16(avail[2:]), "avail.idx not published before KickPrepare")
	q.KickPrepare()
	require.Equal(t, uint16(1), binary.LittleEndian.Uint16(avail[2:]), "avail.idx")
	require.Equal(t, head, binary.LittleEndian.Uint16(avail[4:]), "avail.ring[0]")
}

// TestPackedDescriptorBytes checks what a packed queue writes: addr at 0, len at 8, buffer id
// at 12, flags at 14 with AVAIL set and USED clear in the first lap.
func TestPackedDescriptorBytes(t *testing.T) {
	mem := virtio.NewArena(1<<16, 0x10000)
	q, err := virtio.NewPackedQueue(mem, 8, nil)
	require.NoError(t, err)
	id, err := q.Add([]virtio.Buffer{{Addr: 0x1122334455667788, Len: 100}, {Addr: 0x3000, Len: 64, Write: true}}, 1)
	require.NoError(t, err)
	descAddr, _, _ := q.Addrs()
	desc, ok := mem.Slice(descAddr, 16*8)
	require.True(t, ok)
	require.Equal(t, uint64(0x1122334455667788), binary.LittleEndian.Uint64(desc[0:]))
	require.Equal(t, uint32(100), binary.LittleEndian.Uint32(desc[8:]))
	require.Zero(t, binary.LittleEndian.Uint32(desc[12:]), "head not published before KickPrepare")
	q.KickPrepare()
	require.Equal(t, id, binary.LittleEndian.Uint16(desc[12:]))
	require.Equal(t, uint16(virtio.DescFNext|virtio.PackedDescFAvail), binary.LittleEndian.Uint16(desc[14:]))
	require.Equal(t, uint64(0x3000), binary.LittleEndian.Uint64(desc[16:]))
	require.Equal(t, id, binary.LittleEndian.Uint16(desc[28:]), "buffer id in the last descriptor")
	require.Equal(t, uint16(virtio.DescFWrite|virtio.PackedDescFAvail), binary.LittleEndian.Uint16(desc[30:]))
}
