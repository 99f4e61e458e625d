package delivery

import (
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestOrderAndStop(t *testing.T) {
	got := make(chan int, 100)
	q := New(func(v int) { got <- v }, nil)
	for i := range 100 {
		q.Push(i)
	}
	for i := range 100 {
		select {
		case v := <-got:
			if v != i {
				t.Fatalf("got %d, want %d", v, i)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("delivery stalled")
		}
	}
	q.Stop()
	q.Push(7)
	q.Stop()
	q.Wait()
	select {
	case v := <-got:
		t.Fatalf("delivered %d after Stop", v)
	default:
	}
}

// Stop waits for a callback that is running, and none runs after it.
func TestStopWaitsForRunningCallback(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var after atomic.Bool
	var stopped atomic.Bool
	q := New(func(v int) {
		if v == 1 {
			close(entered)
			<-release
			after.Store(stopped.Load())
		}
	}, nil)
	q.Push(1)
	q.Push(2)
	<-entered
	done := make(chan struct{})
	go func() { q.Stop(); stopped.Store(true); close(done) }()
	select {
	case <-done:
		t.Fatal("Stop returned while the callback ran")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-done
	q.Wait()
	if after.Load() {
		t.Fatal("Stop returned before the callback finished")
	}
}

func TestPanicRecovered(t *testing.T) {
	var panics atomic.Int32
	got := make(chan int, 2)
	q := New(func(v int) {
		if v == 0 {
			panic("boom")
		}
		got <- v
	}, func(any) { panics.Add(1) })
	defer func() { q.Stop(); q.Wait() }()
	q.Push(0)
	q.Push(1)
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("delivery stopped after a panic")
	}
	if panics.Load() != 1 {
		t.Fatalf("panics seen: %d", panics.Load())
	}
}
