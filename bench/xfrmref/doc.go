// Package xfrmref holds the reference benchmark the engine's figures are
// compared with: how fast the Linux kernel's own SA-management interface
// (XFRM over netlink) accepts IPsec policies, measured in a fresh network
// namespace on the same machine and in the same run.
package xfrmref
