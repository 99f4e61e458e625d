// Command kpagent is the kernel peer's guest agent: the initramfs's init
// starts it once the network is configured, and it serves the test's
// requests on the virtio-serial port named agent.PortName (package agent
// describes the protocol). It is built statically (CGO_ENABLED=0) by the
// rig when it builds the initramfs, and never runs on the host.
package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sadb-dev/sadb/internal/testrig/kernelpeer/agent"
)

func main() {
	dev, err := agent.FindPort(agent.PortName, 30*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kpagent:", err)
		os.Exit(1)
	}
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kpagent:", err)
		os.Exit(1)
	}
	up, _ := os.ReadFile("/proc/uptime")
	fmt.Printf("kpagent: serving on %s at %s s\n", dev, strings.Fields(string(up) + " ?")[0])
	g := agent.NewGuest()
	// The port reads as EOF while the host is not connected: wait for it.
	for {
		if err := g.Serve(f); err != nil {
			fmt.Fprintln(os.Stderr, "kpagent:", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
