package client_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Sessions end their goroutines (receive loop, subscription and key-manager
// deliveries) when they close or their connection is lost.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// gRPC keeps a process-wide resolver and balancer goroutine alive.
		goleak.IgnoreTopFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
	)
}
