package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/sadb-dev/sadb/wfp"
)

// watchPing is how often watch checks that its session is still alive.
const watchPing = 5 * time.Second

// changeView is one line of watch -o json.
type changeView struct {
	Time        string `json:"time"`
	Change      string `json:"change"`
	SAContextID uint64 `json:"sa_context_id"`
}

// newWatchCmd builds "sadb watch".
func newWatchCmd(a *app) *cobra.Command {
	var local, remote string
	cmd := &cobra.Command{
		Use:   "watch [--local SUBNET] [--remote SUBNET]",
		Short: "Print SA-context changes as they happen (IPsecSaContextSubscribe0)",
		Long: `Subscribe to SA-context changes and print one line per change, the time,
ADD or DELETE, and the SA context id, until interrupted (Ctrl-C). With -o json
each line is a JSON object. --local and --remote (addresses or subnets)
select the contexts by their outbound addresses. ADD is sent when a context
is created, DELETE when it is deleted for any reason (delete, expiry,
lifetime, idle timeout).

Needs SUBSCRIBE and READ on the SA database.`,
		Example: "  sadb watch\n  sadb watch --remote 192.0.2.0/24 -o json",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			sub := &wfp.IPsecSAContextSubscription0{}
			if local != "" || remote != "" {
				tmpl, err := enumTemplate(local, remote)
				if err != nil {
					return err
				}
				sub.EnumTemplate = tmpl
			}
			return a.withSession(false, func(api wfp.API) error { return a.watch(api, sub) })
		},
	}
	cmd.Flags().StringVar(&local, "local", "", "only contexts whose local address is in this subnet")
	cmd.Flags().StringVar(&remote, "remote", "", "only contexts whose remote address is in this subnet")
	return cmd
}

// watch prints the changes of subscription sub until a.ctx is done or the
// session fails.
func (a *app) watch(api wfp.API, sub *wfp.IPsecSAContextSubscription0) error {
	changes := make(chan wfp.IPsecSAContextChange0, 64)
	stop := make(chan struct{})
	h, err := api.IPsecSaContextSubscribe0(sub, func(c *wfp.IPsecSAContextChange0) {
		select {
		case changes <- *c:
		case <-stop:
		}
	})
	if err != nil {
		return err
	}
	defer func() {
		close(stop) // lets a blocked callback return, so Unsubscribe does not wait forever
		_ = api.IPsecSaContextUnsubscribe0(h)
	}()
	fmt.Fprintln(a.stderr, "sadb: watching SA-context changes; interrupt to stop")
	ping := time.NewTicker(watchPing)
	defer ping.Stop()
	for {
		select {
		case <-a.ctx.Done():
			return nil
		case <-ping.C:
			if _, err := api.IPsecSaContextSubscriptionsGet0(); err != nil {
				return err
			}
		case c := <-changes:
			v := changeView{
				Time:        a.now().Format(time.RFC3339),
				Change:      trimEnum(c.ChangeType.String(), "IPSEC_SA_CONTEXT_EVENT_"),
				SAContextID: c.SAContextID,
			}
			if a.jsonOut() {
				enc := json.NewEncoder(a.stdout)
				enc.SetEscapeHTML(false)
				if err := enc.Encode(v); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(a.stdout, "%s  %-6s  %d\n", v.Time, v.Change, v.SAContextID)
			}
		}
	}
}
