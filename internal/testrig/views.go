package testrig

// CtxView is the part of 'sadb ctx show -o json' the tests read.
type CtxView struct {
	State    string  `json:"state"`
	Inbound  *SAView `json:"inbound"`
	Outbound *SAView `json:"outbound"`
}

// SAView is one direction of a CtxView.
type SAView struct {
	Counters *SACounters `json:"counters"`
}

// SACounters are the data path's counters of one SA, as the CLI shows
// them.
type SACounters struct {
	Bytes       uint64 `json:"bytes"`
	Packets     uint64 `json:"packets"`
	ReplayDrops uint64 `json:"replay_drops"`
	ICVFailures uint64 `json:"icv_failures"`
	OtherDrops  uint64 `json:"other_drops"`
}
