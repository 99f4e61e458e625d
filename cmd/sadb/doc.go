/*
Sadb is the operator's command line for sadbd, the daemon that serves the
Windows Filtering Platform IPsec SA-context API. Every API function is a
subcommand; each invocation opens one session.

# Commands

	sadb ctx create|getspi|setspi|add-inbound|add-outbound|update|expire|delete|show|list
	sadb sa list
	sadb filter add|add-pair|delete|show|list
	sadb acl show|set
	sadb watch
	sadb stats
	sadb session
	sadb txn
	sadb completion bash|zsh|fish|powershell

# Connecting

--target is a Unix socket ("unix:///run/sadb/sadbd.sock" or a plain path)
or host:port. The default is the socket sadbd listens on by default
(SADB_SOCKET overrides it). TCP targets need --tls-cert, --tls-key and
--tls-ca. --timeout bounds connecting and each call.

# Keys

Key material is read only from a file (--key-file) or standard input
(--key-stdin), never from the command line, as lines of NAME=HEX:

	# AES-256-GCM: 32-byte key + 4-byte salt
	cipher=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223

A one-SA transform takes cipher= and/or auth=; an ESP+AH bundle takes
esp.cipher=, esp.auth= and ah.auth=. Keys are shown only with --show-keys,
which asks sadbd for key material (the caller needs READ_KEYS on the SA
database).

# Output

Human tables by default; -o json prints JSON with snake_case field names,
in which enumerations and well-known GUIDs appear by their WFP symbolic
names (FWP_IP_VERSION_V4, FWPM_LAYER_OUTBOUND_TRANSPORT_V4, ...) and
transforms by the names --transform accepts. Keys appear, as hex, only with
--show-keys. Commands given several ids (ctx delete 1 2) print one object per
id; watch prints one object per line; txn prints what each line prints.

# Exit status

0 on success; 1 when a call fails (the error is printed as
"sadb: NAME (0xCODE): message: detail") or an input file is unusable; 2
for a usage error (unknown command or flag, bad flag value, missing
argument).
*/
package main
