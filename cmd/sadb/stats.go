package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sadb-dev/sadb/wfp"
)

// statsView is an IPSEC_STATISTICS1.
type statsView struct {
	SAs struct {
		Active             uint32 `json:"active_sas"`
		PendingNegotiation uint32 `json:"pending_sa_negotiations"`
		TotalAdded         uint32 `json:"total_sas_added"`
		TotalDeleted       uint32 `json:"total_sas_deleted"`
		SuccessfulRekeys   uint32 `json:"successful_rekeys"`
		ActiveTunnels      uint32 `json:"active_tunnels"`
		Offloaded          uint32 `json:"offloaded_sas"`
	} `json:"sa"`
	ESPDrops struct {
		InvalidSPIs            uint32 `json:"invalid_spis_on_inbound"`
		DecryptionFailures     uint32 `json:"decryption_failures_on_inbound"`
		AuthenticationFailures uint32 `json:"authentication_failures_on_inbound"`
		ReplayCheckFailures    uint32 `json:"replay_check_failures_on_inbound"`
		SANotInitialized       uint32 `json:"sa_not_initialized_on_inbound"`
	} `json:"esp_drops"`
	AHDrops struct {
		InvalidSPIs            uint32 `json:"invalid_spis_on_inbound"`
		AuthenticationFailures uint32 `json:"authentication_failures_on_inbound"`
		ReplayCheckFailures    uint32 `json:"replay_check_failures_on_inbound"`
		SANotInitialized       uint32 `json:"sa_not_initialized_on_inbound"`
	} `json:"ah_drops"`
	Drops struct {
		InvalidSPIs                      uint32 `json:"invalid_spis_on_inbound"`
		DecryptionFailures               uint32 `json:"decryption_failures_on_inbound"`
		AuthenticationFailures           uint32 `json:"authentication_failures_on_inbound"`
		UDPESPValidationFailures         uint32 `json:"udp_esp_validation_failures_on_inbound"`
		ReplayCheckFailures              uint32 `json:"replay_check_failures_on_inbound"`
		InvalidClearText                 uint32 `json:"invalid_clear_text_inbound"`
		SANotInitialized                 uint32 `json:"sa_not_initialized_on_inbound"`
		ReceiveOverIncorrectSA           uint32 `json:"receive_over_incorrect_sa_inbound"`
		SecureReceivesNotMatchingFilters uint32 `json:"secure_receives_not_matching_filters"`
		TotalDropPackets                 uint32 `json:"total_drop_packets_inbound"`
	} `json:"drops"`
	Inbound  trafficStatsView `json:"inbound_traffic"`
	Outbound trafficStatsView `json:"outbound_traffic"`
}

// trafficStatsView is an IPSEC_TRAFFIC_STATISTICS1.
type trafficStatsView struct {
	EncryptedBytes        uint64 `json:"encrypted_byte_count"`
	AuthenticatedAHBytes  uint64 `json:"authenticated_ah_byte_count"`
	AuthenticatedESPBytes uint64 `json:"authenticated_esp_byte_count"`
	TransportBytes        uint64 `json:"transport_byte_count"`
	TunnelBytes           uint64 `json:"tunnel_byte_count"`
	OffloadBytes          uint64 `json:"offload_byte_count"`
	TotalSuccessfulPkts   uint64 `json:"total_successful_packets"`
}

// newTrafficStatsView is the JSON view of traffic statistics.
func newTrafficStatsView(t *wfp.IPsecTrafficStatistics1) trafficStatsView {
	return trafficStatsView{t.EncryptedByteCount, t.AuthenticatedAHByteCount, t.AuthenticatedESPByteCount,
		t.TransportByteCount, t.TunnelByteCount, t.OffloadByteCount, t.TotalSuccessfulPackets}
}

// newStatsView is the JSON view of IPSEC_STATISTICS1.
func newStatsView(s *wfp.IPsecStatistics1) statsView {
	var v statsView
	a := &s.AggregateSAStatistics
	v.SAs.Active, v.SAs.PendingNegotiation, v.SAs.TotalAdded, v.SAs.TotalDeleted = a.ActiveSAs, a.PendingSANegotiations, a.TotalSAsAdded, a.TotalSAsDeleted
	v.SAs.SuccessfulRekeys, v.SAs.ActiveTunnels, v.SAs.Offloaded = a.SuccessfulRekeys, a.ActiveTunnels, a.OffloadedSAs
	e := &s.ESPDropPacketStatistics
	v.ESPDrops.InvalidSPIs, v.ESPDrops.DecryptionFailures, v.ESPDrops.AuthenticationFailures = e.InvalidSPIsOnInbound, e.DecryptionFailuresOnInbound, e.AuthenticationFailuresOnInbound
	v.ESPDrops.ReplayCheckFailures, v.ESPDrops.SANotInitialized = e.ReplayCheckFailuresOnInbound, e.SANotInitializedOnInbound
	h := &s.AHDropPacketStatistics
	v.AHDrops.InvalidSPIs, v.AHDrops.AuthenticationFailures = h.InvalidSPIsOnInbound, h.AuthenticationFailuresOnInbound
	v.AHDrops.ReplayCheckFailures, v.AHDrops.SANotInitialized = h.ReplayCheckFailuresOnInbound, h.SANotInitializedOnInbound
	d := &s.AggregateDropPacketStatistics
	v.Drops.InvalidSPIs, v.Drops.DecryptionFailures, v.Drops.AuthenticationFailures = d.InvalidSPIsOnInbound, d.DecryptionFailuresOnInbound, d.AuthenticationFailuresOnInbound
	v.Drops.UDPESPValidationFailures, v.Drops.ReplayCheckFailures, v.Drops.InvalidClearText = d.UDPESPValidationFailuresOnInbound, d.ReplayCheckFailuresOnInbound, d.InvalidClearTextInbound
	v.Drops.SANotInitialized, v.Drops.ReceiveOverIncorrectSA = d.SANotInitializedOnInbound, d.ReceiveOverIncorrectSAInbound
	v.Drops.SecureReceivesNotMatchingFilters, v.Drops.TotalDropPackets = d.SecureReceivesNotMatchingFilters, d.TotalDropPacketsInbound
	v.Inbound = newTrafficStatsView(&s.InboundTrafficStatistics)
	v.Outbound = newTrafficStatsView(&s.OutboundTrafficStatistics)
	return v
}

// statsBlock describes statistics as stats prints them.
func statsBlock(v *statsView) *block {
	b := &block{}
	sa := b.sub("SAs")
	sa.add("active", fmt.Sprint(v.SAs.Active))
	sa.add("pending negotiations", fmt.Sprint(v.SAs.PendingNegotiation))
	sa.add("added", fmt.Sprint(v.SAs.TotalAdded))
	sa.add("deleted", fmt.Sprint(v.SAs.TotalDeleted))
	sa.add("successful rekeys", fmt.Sprint(v.SAs.SuccessfulRekeys))
	sa.add("active tunnels", fmt.Sprint(v.SAs.ActiveTunnels))
	sa.add("offloaded", fmt.Sprint(v.SAs.Offloaded))
	dr := b.sub("inbound drops")
	dr.add("total", fmt.Sprint(v.Drops.TotalDropPackets))
	dr.add("invalid SPI", fmt.Sprintf("%d (ESP %d, AH %d)", v.Drops.InvalidSPIs, v.ESPDrops.InvalidSPIs, v.AHDrops.InvalidSPIs))
	dr.add("decryption failures", fmt.Sprintf("%d (ESP %d)", v.Drops.DecryptionFailures, v.ESPDrops.DecryptionFailures))
	dr.add("authentication failures", fmt.Sprintf("%d (ESP %d, AH %d)", v.Drops.AuthenticationFailures, v.ESPDrops.AuthenticationFailures, v.AHDrops.AuthenticationFailures))
	dr.add("replay check failures", fmt.Sprintf("%d (ESP %d, AH %d)", v.Drops.ReplayCheckFailures, v.ESPDrops.ReplayCheckFailures, v.AHDrops.ReplayCheckFailures))
	dr.add("SA not initialized", fmt.Sprintf("%d (ESP %d, AH %d)", v.Drops.SANotInitialized, v.ESPDrops.SANotInitialized, v.AHDrops.SANotInitialized))
	dr.add("UDP-ESP validation failures", fmt.Sprint(v.Drops.UDPESPValidationFailures))
	dr.add("invalid clear text", fmt.Sprint(v.Drops.InvalidClearText))
	dr.add("received over wrong SA", fmt.Sprint(v.Drops.ReceiveOverIncorrectSA))
	dr.add("secure, not matching filters", fmt.Sprint(v.Drops.SecureReceivesNotMatchingFilters))
	for _, t := range []struct {
		title string
		v     *trafficStatsView
	}{{"inbound traffic", &v.Inbound}, {"outbound traffic", &v.Outbound}} {
		s := b.sub(t.title)
		s.add("packets", fmt.Sprint(t.v.TotalSuccessfulPkts))
		s.add("encrypted bytes", fmt.Sprint(t.v.EncryptedBytes))
		s.add("ESP authenticated bytes", fmt.Sprint(t.v.AuthenticatedESPBytes))
		s.add("AH authenticated bytes", fmt.Sprint(t.v.AuthenticatedAHBytes))
		s.add("transport bytes", fmt.Sprint(t.v.TransportBytes))
		s.add("tunnel bytes", fmt.Sprint(t.v.TunnelBytes))
		s.add("offloaded bytes", fmt.Sprint(t.v.OffloadBytes))
	}
	return b
}

// newStatsCmd builds "sadb stats".
func newStatsCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "stats",
		Short: "Show IPsec statistics (IPsecGetStatistics1)",
		Long: `Show the SA counts and the packet and byte counters of the data path
(zero without one). Needs READ_STATS on the SA database. Not allowed inside a
transaction (FWP_E_TXN_IN_PROGRESS).`,
		Example: "  sadb stats\n  sadb -o json stats",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withSession(false, func(api wfp.API) error {
				s, err := api.IPsecGetStatistics1()
				if err != nil {
					return err
				}
				v := newStatsView(s)
				return a.emit(v, func(w io.Writer) { statsBlock(&v).write(w) })
			})
		},
	}
}

// sessionView is the FWPM_SESSION0 sadbd filled in.
type sessionView struct {
	SessionKey           string   `json:"session_key"`
	Name                 string   `json:"name"`
	Description          string   `json:"description"`
	Flags                []string `json:"flags"`
	TxnWaitTimeoutInMSec uint32   `json:"txn_wait_timeout_in_msec"`
	ProcessID            uint32   `json:"process_id"`
	SID                  string   `json:"sid"`
	Username             string   `json:"username"`
	KernelMode           bool     `json:"kernel_mode"`
	Target               string   `json:"target"`
}

// sessionFlagNames names the FWPM_SESSION_FLAG_* bits of v.
func sessionFlagNames(v uint32) []string {
	out := []string{}
	for _, f := range []bundleFlag{
		{"FWPM_SESSION_FLAG_DYNAMIC", wfp.SessionFlagDynamic},
		{"FWPM_SESSION_FLAG_RESERVED", wfp.SessionFlagReserved},
		{"SADB_SESSION_FLAG_KEY_MATERIAL", wfp.SessionFlagKeyMaterial},
	} {
		if v&f.v != 0 {
			out = append(out, f.sym)
			v &^= f.v
		}
	}
	if v != 0 {
		out = append(out, fmt.Sprintf("0x%x", v))
	}
	return out
}

// newSessionCmd builds "sadb session".
func newSessionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "session",
		Short: "Show the session sadbd opened for this command: who you are to it",
		Long: `Open a session and show the FWPM_SESSION0 sadbd filled in: the session key,
your process id, and the SID and user name sadbd knows you by (uid:N on the
local socket, cert:NAME over TLS), which is what security descriptors name.`,
		Example: "  sadb session\n  sadb -o json session",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withSession(false, func(api wfp.API) error {
				s := api.Session()
				v := sessionView{
					SessionKey: s.SessionKey.String(), Name: s.DisplayData.Name, Description: s.DisplayData.Description,
					Flags: sessionFlagNames(s.Flags), TxnWaitTimeoutInMSec: s.TxnWaitTimeoutInMSec, ProcessID: s.ProcessID,
					SID: string(s.SID), Username: s.Username, KernelMode: s.KernelMode, Target: normalizeTarget(a.target),
				}
				return a.emit(v, func(w io.Writer) {
					b := &block{}
					b.add("target", v.Target)
					b.add("session key", v.SessionKey)
					b.add("name", v.Name)
					b.add("sid", v.SID)
					b.add("username", v.Username)
					b.add("process id", fmt.Sprint(v.ProcessID))
					b.add("kernel mode", fmt.Sprint(v.KernelMode))
					b.add("flags", strings.Join(v.Flags, ","))
					switch v.TxnWaitTimeoutInMSec {
					case 0:
						b.add("txn wait timeout", "default (15s)")
					case 0xFFFFFFFF:
						b.add("txn wait timeout", "infinite")
					default:
						b.add("txn wait timeout", (time.Duration(v.TxnWaitTimeoutInMSec) * time.Millisecond).String())
					}
					b.write(w)
				})
			})
		},
	}
}
