package linuxdom

// cU64Align is the alignment of a 64-bit integer in the C ABI of linux/arm64, which sets the
// padded sizeof of the ioctl structures (and so their ioctl numbers).
const cU64Align = 8
