package link

// Features is the set of offloads a link supports.
type Features uint32

const (
	// FeatureTxCsum: Transmit accepts frames with FlagNeedsCsum.
	FeatureTxCsum Features = 1 << iota
	// FeatureTxTSO4: Transmit accepts GSOTCPv4 frames up to [MaxGSOSize]. Implies FeatureTxCsum.
	FeatureTxTSO4
	// FeatureTxTSO6: Transmit accepts GSOTCPv6 frames up to [MaxGSOSize]. Implies FeatureTxCsum.
	FeatureTxTSO6
	// FeatureRxCsum: received frames may carry FlagNeedsCsum or FlagDataValid.
	FeatureRxCsum
	// FeatureRxGRO: received frames may be GSO frames up to [MaxGSOSize].
	FeatureRxGRO
)

// Has reports whether every feature in want is in f.
func (f Features) Has(want Features) bool { return f&want == want }
