package service

import (
	"os"
	"runtime/debug"

	"github.com/dbapi-dev/dbapi/consumer"
	"github.com/nats-io/nats-server/v2/server"
)

// memoryBase is what the service holds whatever the requests: the Go
// runtime, the code, connections, the NATS and HTTP clients' buffers.
const memoryBase = 64 << 20

// RequestMemory returns the most bytes requests can make a serving
// instance hold: the queue (DBAPI_QUEUE_BYTES), what the NATS client has
// read and the endpoints have not taken yet (consumer.PendingBytes per
// endpoint, and about 256 bytes more per pending message), and per worker one
// request (DBAPI_MAX_PAYLOAD) and twice the largest reply NATS carries
// (its JSON and the copy being sent); with durable requests on, the same
// per durable worker.
func (m *Main) RequestMemory() int64 {
	c := m.Config
	endpoints := int64(m.Consumer.Endpoints())
	pending := endpoints * int64(consumer.PendingBytes(c.QueueBytes, c.MaxPayload, int(endpoints)))
	pendingMsgs := endpoints * consumer.PendingMsgs * 256
	reply := m.NATS.MaxPayload()
	running := int64(m.workers) * (int64(c.MaxPayload) + 2*reply)
	total := c.QueueBytes + pending + pendingMsgs + running
	if c.Durable {
		// The durable transport fetches no more messages than it has
		// workers, each up to the largest message NATS carries.
		total += int64(m.durableWorkers) * (reply + 2*reply)
	}
	if m.embedded != nil {
		total += server.MAX_PENDING_SIZE
	}
	return total
}

// setMemoryLimit makes the Go runtime collect garbage harder as the heap
// nears memoryBase + RequestMemory, so that bytes clients send and the
// service has already dropped do not pile up: by default the heap may
// grow to twice what is live between collections. GOMEMLIMIT, when set,
// wins. It returns the limit in force.
func (m *Main) setMemoryLimit() int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1)
	}
	limit := memoryBase + m.RequestMemory()
	debug.SetMemoryLimit(limit)
	return limit
}
