package clock

import (
	"testing"
	"time"
)

func TestFakeRunsTimersInOrder(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewFake(t0)
	var got []int
	c.AfterFunc(3*time.Second, func() { got = append(got, 3) })
	c.AfterFunc(1*time.Second, func() {
		got = append(got, 1)
		c.AfterFunc(time.Second, func() { got = append(got, 2) }) // due at t0+2s, inside the window
	})
	stop := c.AfterFunc(2500*time.Millisecond, func() { got = append(got, 99) })
	if !stop.Stop() || stop.Stop() {
		t.Fatalf("Stop semantics wrong")
	}
	c.Advance(2 * time.Second)
	if len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("after 2s got %v", got)
	}
	if !c.Now().Equal(t0.Add(2 * time.Second)) {
		t.Fatalf("Now = %v", c.Now())
	}
	c.Advance(time.Hour)
	if len(got) != 3 || got[2] != 3 || c.Pending() != 0 {
		t.Fatalf("got %v pending %d", got, c.Pending())
	}
}

func TestSystemClock(t *testing.T) {
	done := make(chan struct{})
	System().AfterFunc(time.Millisecond, func() { close(done) })
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("system timer never fired")
	}
}
