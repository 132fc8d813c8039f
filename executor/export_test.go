package executor

// Forming returns how many requests have joined the group of op that is
// still taking members, for tests that build a group of known members.
func (e *Executor) Forming(op string) int {
	c := e.groups.byOp[op]
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open == nil {
		return 0
	}
	return len(c.open.members)
}
