package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sadb-dev/sadb/wfp"
)

// aclTarget is the object acl show and set act on: the engine or the SA
// database.
type aclTarget struct {
	engine, sadb bool
}

// register adds --engine and --sadb to cmd.
func (t *aclTarget) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&t.engine, "engine", false, "the filter engine object (sessions, transactions, filters)")
	cmd.Flags().BoolVar(&t.sadb, "sadb", false, "the IPsec SA database (every SA-context function; the default)")
}

// check rejects --engine with --sadb.
func (t *aclTarget) check() error {
	if t.engine && t.sadb {
		return usagef("give --engine or --sadb, not both")
	}
	return nil
}

// name is the JSON name of the object.
func (t *aclTarget) name() string {
	if t.engine {
		return "engine"
	}
	return "sadb"
}

// title names the object for people.
func (t *aclTarget) title() string {
	if t.engine {
		return "filter engine"
	}
	return "SA database"
}

// get reads the object's security descriptor.
func (t *aclTarget) get(api wfp.API, info wfp.SecurityInformation) (*wfp.SecurityDescriptor, error) {
	if t.engine {
		return api.FwpmEngineGetSecurityInfo0(info)
	}
	return api.IPsecSaDbGetSecurityInfo0(info)
}

// set writes the parts of the object's security descriptor info names.
func (t *aclTarget) set(api wfp.API, info wfp.SecurityInformation, owner, group *wfp.SID, dacl *wfp.ACL) error {
	if t.engine {
		return api.FwpmEngineSetSecurityInfo0(info, owner, group, dacl)
	}
	return api.IPsecSaDbSetSecurityInfo0(info, owner, group, dacl)
}

const allSecurityInfo = wfp.OwnerSecurityInformation | wfp.GroupSecurityInformation | wfp.DACLSecurityInformation

// aceView is one access-control entry.
type aceView struct {
	Type   string `json:"type"`
	SID    string `json:"sid"`
	Rights string `json:"rights"`
	Mask   uint32 `json:"mask"`
}

// sdView is a security descriptor. DACL is null for a null DACL, which
// grants everything.
type sdView struct {
	Object string     `json:"object"`
	Owner  string     `json:"owner"`
	Group  string     `json:"group"`
	DACL   *[]aceView `json:"dacl"`
}

// newSDView is the JSON view of a security descriptor of object t.
func newSDView(t *aclTarget, sd *wfp.SecurityDescriptor) sdView {
	v := sdView{Object: t.name(), Owner: string(sd.Owner), Group: string(sd.Group)}
	if sd.DACL != nil {
		aces := []aceView{}
		for _, e := range *sd.DACL {
			aces = append(aces, aceView{Type: e.Type.String(), SID: string(e.SID), Rights: e.Mask.String(), Mask: uint32(e.Mask)})
		}
		v.DACL = &aces
	}
	return v
}

// rightsText abbreviates a mask that is exactly a generic mapping.
func rightsText(m wfp.AccessMask) string {
	switch m {
	case wfp.FwpmGenericAll:
		return "GENERIC_ALL"
	case wfp.FwpmGenericRead:
		return "GENERIC_READ"
	case wfp.FwpmGenericWrite:
		return "GENERIC_WRITE"
	case wfp.FwpmGenericExecute:
		return "GENERIC_EXECUTE"
	}
	return m.String()
}

// writeSD prints a security descriptor: owner, group and the DACL as a table.
func writeSD(w io.Writer, t *aclTarget, sd *wfp.SecurityDescriptor) {
	b := &block{}
	b.add("object", t.title())
	b.add("owner", string(sd.Owner))
	b.add("group", string(sd.Group))
	switch {
	case sd.DACL == nil:
		b.add("dacl", "null (grants everything to everyone)")
	case len(*sd.DACL) == 0:
		b.add("dacl", "empty (grants nothing)")
	}
	b.write(w)
	if sd.DACL == nil || len(*sd.DACL) == 0 {
		return
	}
	fmt.Fprintln(w)
	tb := newTable("#", "TYPE", "SID", "RIGHTS")
	for i, e := range *sd.DACL {
		tb.add(fmt.Sprint(i+1), e.Type.String(), string(e.SID), rightsText(e.Mask))
	}
	tb.write(w)
}

// newACLCmd builds "sadb acl".
func newACLCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "acl",
		Short: "Access control of the filter engine and the SA database",
		Long: `Show and change the security descriptors of the filter engine and of the
IPsec SA database. SIDs are uid:N, gid:N, cert:NAME and everyone; rights are
named like ADD,READ,DELETE or GENERIC_ALL (see 'acl set --help').`,
		Example: "  sadb acl show\n  sadb acl set --sadb --allow gid:110=GENERIC_READ,ENUM,SUBSCRIBE",
		Args:    cobra.ArbitraryArgs,
		RunE:    groupRun,
	}
	cmd.AddCommand(newACLShowCmd(a), newACLSetCmd(a))
	return cmd
}

// newACLShowCmd builds "sadb acl show".
func newACLShowCmd(a *app) *cobra.Command {
	var t aclTarget
	cmd := &cobra.Command{
		Use:   "show [--engine|--sadb]",
		Short: "Show a security descriptor (IPsecSaDbGetSecurityInfo0, FwpmEngineGetSecurityInfo0)",
		Long: `Show the owner, group and DACL of the SA database (default) or of the
filter engine (--engine). Needs READ_CONTROL.`,
		Example: "  sadb acl show\n  sadb acl show --engine -o json",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := t.check(); err != nil {
				return err
			}
			return a.withSession(false, func(api wfp.API) error {
				sd, err := t.get(api, allSecurityInfo)
				if err != nil {
					return err
				}
				return a.emit(newSDView(&t, sd), func(w io.Writer) { writeSD(w, &t, sd) })
			})
		},
	}
	t.register(cmd)
	return cmd
}

// parseACE parses SID=RIGHTS.
func parseACE(flag, s string, typ wfp.ACEType) (wfp.ACE, error) {
	i := strings.LastIndex(s, "=")
	if i < 0 {
		return wfp.ACE{}, usagef("--%s %q: want SID=RIGHTS, e.g. uid:1000=ADD,READ,DELETE", flag, s)
	}
	sid := wfp.SID(strings.TrimSpace(s[:i]))
	if !sid.Valid() {
		return wfp.ACE{}, usagef("--%s %q: %q is not a SID (uid:N, gid:N, cert:NAME or everyone)", flag, s, sid)
	}
	m, err := wfp.ParseAccessMask(s[i+1:])
	if err != nil || m == 0 {
		return wfp.ACE{}, usagef("--%s %q: rights: want names like ADD,READ,DELETE, GENERIC_ALL or a number", flag, s)
	}
	return wfp.ACE{Type: typ, Mask: m, SID: sid}, nil
}

// newACLSetCmd builds "sadb acl set".
func newACLSetCmd(a *app) *cobra.Command {
	var t aclTarget
	var owner, group string
	var allow, deny []string
	var replace, add bool
	cmd := &cobra.Command{
		Use:   "set [--engine|--sadb] [--owner SID] [--group SID] [--allow SID=RIGHTS]... [--deny SID=RIGHTS]... [--replace|--add]",
		Short: "Change a security descriptor (IPsecSaDbSetSecurityInfo0, FwpmEngineSetSecurityInfo0)",
		Long: `Change the owner, group or DACL of the SA database (default) or of the
filter engine (--engine), then show the result.

--allow and --deny give access-control entries: SID=RIGHTS, where SID is
uid:N, gid:N, cert:NAME or everyone and RIGHTS a list of names joined by ","
or "|": ADD, ADD_LINK, BEGIN_READ_TXN, BEGIN_WRITE_TXN, CLASSIFY, ENUM, OPEN,
READ, READ_STATS, SUBSCRIBE, WRITE, READ_KEYS, DELETE, READ_CONTROL,
WRITE_DAC, WRITE_OWNER, GENERIC_READ, GENERIC_WRITE, GENERIC_EXECUTE,
GENERIC_ALL, or a number.

--add (the default) keeps the current DACL: new deny entries go first, new
allow entries last. --replace makes the DACL exactly the entries given
(deny entries first); with none it grants nothing.

Changing the owner needs WRITE_OWNER, the DACL WRITE_DAC. Not allowed inside
a transaction (FWP_E_TXN_IN_PROGRESS).`,
		Example: `  sadb acl set --allow gid:110=GENERIC_READ,ENUM,SUBSCRIBE
  sadb acl set --sadb --deny uid:1001=READ_KEYS
  sadb acl set --engine --replace --allow uid:0=GENERIC_ALL --allow everyone=OPEN,CLASSIFY
  sadb acl set --owner uid:0`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := t.check(); err != nil {
				return err
			}
			if replace && add {
				return usagef("give --replace or --add, not both")
			}
			var info wfp.SecurityInformation
			var ownerSID, groupSID *wfp.SID
			for _, o := range []struct {
				flag, val string
				dst       **wfp.SID
				bit       wfp.SecurityInformation
			}{{"owner", owner, &ownerSID, wfp.OwnerSecurityInformation}, {"group", group, &groupSID, wfp.GroupSecurityInformation}} {
				if o.val == "" {
					continue
				}
				sid := wfp.SID(o.val)
				if !sid.Valid() {
					return usagef("--%s %q: not a SID (uid:N, gid:N, cert:NAME or everyone)", o.flag, o.val)
				}
				*o.dst = &sid
				info |= o.bit
			}
			var denies, allows wfp.ACL
			for _, s := range deny {
				e, err := parseACE("deny", s, wfp.AccessDenied)
				if err != nil {
					return err
				}
				denies = append(denies, e)
			}
			for _, s := range allow {
				e, err := parseACE("allow", s, wfp.AccessAllowed)
				if err != nil {
					return err
				}
				allows = append(allows, e)
			}
			if len(denies)+len(allows) > 0 || replace {
				info |= wfp.DACLSecurityInformation
			}
			if info == 0 {
				return usagef("nothing to set: give --owner, --group, --allow, --deny or --replace")
			}
			return a.withSession(false, func(api wfp.API) error {
				var dacl *wfp.ACL
				if info&wfp.DACLSecurityInformation != 0 {
					d := append(wfp.ACL{}, denies...)
					if !replace {
						cur, err := t.get(api, wfp.DACLSecurityInformation)
						if err != nil {
							return err
						}
						if cur.DACL == nil {
							return fmt.Errorf("the DACL of the %s is null (it grants everything); adding entries would take that away: use --replace", t.title())
						}
						d = append(d, *cur.DACL...)
					}
					d = append(d, allows...)
					dacl = &d
				}
				if err := t.set(api, info, ownerSID, groupSID, dacl); err != nil {
					return err
				}
				sd, err := t.get(api, allSecurityInfo)
				if err != nil {
					fmt.Fprintf(a.stderr, "sadb: the security descriptor was set but cannot be read back: %s\n", errorText(err))
					return nil
				}
				return a.emit(newSDView(&t, sd), func(w io.Writer) { writeSD(w, &t, sd) })
			})
		},
	}
	t.register(cmd)
	f := cmd.Flags()
	f.StringVar(&owner, "owner", "", "new owner SID")
	f.StringVar(&group, "group", "", "new primary group SID")
	f.StringArrayVar(&allow, "allow", nil, "allow SID=RIGHTS (repeatable)")
	f.StringArrayVar(&deny, "deny", nil, "deny SID=RIGHTS (repeatable)")
	f.BoolVar(&replace, "replace", false, "replace the DACL with the entries given")
	f.BoolVar(&add, "add", false, "add the entries given to the DACL (the default)")
	return cmd
}
