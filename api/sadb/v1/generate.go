// Package sadbv1 is the sadb wire protocol: the protobuf messages and gRPC
// service that carry the WFP API between the client package and sadbd.
// Nothing outside the RPC edge (internal/rpcserver, client, internal/wire)
// uses these types.
package sadbv1

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative sadb.proto
