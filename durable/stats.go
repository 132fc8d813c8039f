package durable

import "sync"

// stats counts what became of the durable messages of one instance.
type stats struct {
	mu       sync.Mutex
	outcomes map[string]int
	errors   map[string]int
}

func newStats() *stats { return &stats{outcomes: map[string]int{}, errors: map[string]int{}} }

func (st *stats) record(outcome, code string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.outcomes[outcome]++
	if code != "ok" && code != "" && outcome != OutcomeReplayed {
		st.errors[code]++
	}
}

// StatsData is the "data" of the outcome endpoint in `nats micro stats
// dbapi_durable`: durable messages by outcome (committed, replayed,
// failed, retried, gave_up) and failures by error code.
type StatsData struct {
	Outcomes map[string]int `json:"outcomes"`
	Errors   map[string]int `json:"errors,omitempty"`
}

func (st *stats) snapshot() StatsData {
	st.mu.Lock()
	defer st.mu.Unlock()
	d := StatsData{Outcomes: make(map[string]int, len(st.outcomes)), Errors: make(map[string]int, len(st.errors))}
	for k, v := range st.outcomes {
		d.Outcomes[k] = v
	}
	for k, v := range st.errors {
		d.Errors[k] = v
	}
	return d
}
