package consumer

import (
	"sync"
	"time"

	"github.com/dbapi-dev/dbapi/executor"
)

// opStats counts what the workers did for one endpoint. The micro package
// counts requests itself but sees only the queueing handler, so the
// numbers that describe transactions are reported here, in the "data" of
// each endpoint in `nats micro stats dbapi`.
type opStats struct {
	mu        sync.Mutex
	committed int
	errors    map[string]int
	txTime    time.Duration
}

func (st *opStats) record(r executor.Reply) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.txTime += r.TxTime
	if r.Err == nil {
		st.committed++
		return
	}
	if st.errors == nil {
		st.errors = make(map[string]int)
	}
	st.errors[r.Code]++
}

// StatsData is the per-endpoint "data" in the micro STATS reply.
type StatsData struct {
	Committed       int            `json:"committed"`
	Errors          map[string]int `json:"errors,omitempty"`
	AverageTxMillis float64        `json:"average_tx_ms"`
}

func (st *opStats) snapshot() StatsData {
	st.mu.Lock()
	defer st.mu.Unlock()
	d := StatsData{Committed: st.committed, Errors: make(map[string]int, len(st.errors))}
	n := st.committed
	for k, v := range st.errors {
		d.Errors[k] = v
		n += v
	}
	if n > 0 {
		d.AverageTxMillis = float64(st.txTime.Microseconds()) / 1000 / float64(n)
	}
	return d
}
