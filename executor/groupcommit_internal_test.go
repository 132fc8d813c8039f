package executor

import (
	"testing"
	"time"
)

// Groups waiting to run start in the order their leaders came, and no
// more than the limit run at once.
func TestGroupsStartInOrder(t *testing.T) {
	c := newCoalescer(CoalesceConfig{MaxGroup: 8, MaxGroups: 1})
	c.acquire() // the running group
	started := make(chan int, 3)
	for i := range 3 {
		go func() { c.acquire(); started <- i }()
		for { // wait until leader i is in line, so the order is known
			c.mu.Lock()
			n := len(c.waiting)
			c.mu.Unlock()
			if n == i+1 {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	for want := range 3 {
		c.release(false)
		if got := <-started; got != want {
			t.Fatalf("group %d started; want %d, the oldest waiting", got, want)
		}
		select {
		case got := <-started:
			t.Fatalf("group %d started too: more than one group running", got)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
