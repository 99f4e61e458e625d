package engine

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test leaves no goroutine behind: engines are closed, subscriptions
// and key managers end with their sessions.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
