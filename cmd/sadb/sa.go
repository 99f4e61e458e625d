package main

import (
	"encoding/hex"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/sadb-dev/sadb/wfp"
)

// newSACmd builds "sadb sa".
func newSACmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "sa",
		Short:   "IPsec SAs across all SA contexts",
		Example: "  sadb sa list\n  sadb sa list --direction inbound --show-keys",
		Args:    cobra.ArbitraryArgs,
		RunE:    groupRun,
	}
	cmd.AddCommand(newSAListCmd(a))
	return cmd
}

// newSAListCmd builds "sadb sa list".
func newSAListCmd(a *app) *cobra.Command {
	var direction string
	var showKeys bool
	cmd := &cobra.Command{
		Use:   "list [--direction inbound|outbound] [--show-keys]",
		Short: "List SAs (IPsecSaEnum1)",
		Long: `List the SA bundles of every SA context, inbound before outbound, contexts
in id order; the table has one row per SA (an ESP+AH bundle has two). Keys
are shown only with --show-keys (the caller needs READ_KEYS on the SA
database).`,
		Example: "  sadb sa list\n  sadb sa list --direction outbound\n  sadb -o json sa list --show-keys",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			var tmpl *wfp.IPsecSAEnumTemplate0
			switch direction {
			case "":
			case "inbound":
				tmpl = &wfp.IPsecSAEnumTemplate0{SADirection: wfp.DirectionInbound}
			case "outbound":
				tmpl = &wfp.IPsecSAEnumTemplate0{SADirection: wfp.DirectionOutbound}
			default:
				return usagef("--direction %q: want inbound or outbound", direction)
			}
			return a.withSession(showKeys, func(api wfp.API) error {
				ds, err := enumSAs(api, tmpl)
				if err != nil {
					return err
				}
				views := make([]*detailsView, len(ds))
				for i, d := range ds {
					views[i] = newDetailsView(d, showKeys)
				}
				return a.emit(views, func(w io.Writer) { saTable(ds, showKeys).write(w) })
			})
		},
	}
	cmd.Flags().StringVar(&direction, "direction", "", "only SAs of this direction: inbound or outbound")
	cmd.Flags().BoolVar(&showKeys, "show-keys", false, "show key material")
	_ = cmd.RegisterFlagCompletionFunc("direction", cobra.FixedCompletions([]string{"inbound", "outbound"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// enumSAs pages through every SA bundle matching tmpl.
func enumSAs(api wfp.API, tmpl *wfp.IPsecSAEnumTemplate0) ([]*wfp.IPsecSADetails1, error) {
	h, err := api.IPsecSaCreateEnumHandle0(tmpl)
	if err != nil {
		return nil, err
	}
	defer api.IPsecSaDestroyEnumHandle0(h)
	var out []*wfp.IPsecSADetails1
	for {
		page, err := api.IPsecSaEnum1(h, enumPage)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < enumPage {
			return out, nil
		}
	}
}

// saTable is the table sa list prints: one row per SA.
func saTable(ds []*wfp.IPsecSADetails1, showKeys bool) *table {
	header := []string{"DIRECTION", "SPI", "TRANSFORM", "MODE", "LOCAL", "REMOTE", "FILTER", "LIFETIME", "QM SA ID"}
	if showKeys {
		header = append(header, "CIPHER KEY", "AUTH KEY")
	}
	t := newTable(header...)
	for _, d := range ds {
		filter := fmt.Sprint(d.Traffic.IPsecFilterID)
		if d.Traffic.TrafficType == wfp.TrafficTypeTunnel {
			filter = fmt.Sprintf("policy %d", d.Traffic.TunnelPolicyID)
		}
		for i := range d.SABundle.SAList {
			sa := &d.SABundle.SAList[i]
			row := []string{directionText(d.SADirection), spiText(sa.SPI), saName(sa), modeText(d.Traffic.TrafficType),
				d.Traffic.LocalAddr().String(), d.Traffic.RemoteAddr().String(), filter,
				lifetimeText(d.SABundle.Lifetime), fmt.Sprint(d.SABundle.QMSAID)}
			if showKeys {
				c, k := saKeys(sa)
				row = append(row, hex.EncodeToString(c), hex.EncodeToString(k))
			}
			t.add(row...)
		}
	}
	return t
}
