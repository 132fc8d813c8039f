package consumer

// The NATS client holds the messages it has read for a subscription until
// the subscription's handler takes them (its "pending" buffer; 64 MiB and
// 500,000 messages per subscription by default, uncounted by QueueBytes).
// Every endpoint gets smaller limits, tied to the configuration, so that
// what requests can make the process hold is bounded whatever clients
// send. Beyond a limit the client drops messages (their requesters time
// out) and reports a slow consumer; receive never blocks, so that happens
// only when requests arrive faster than they can be turned away.

// PendingMsgs is each endpoint's limit on received messages its handler
// has not taken yet.
const PendingMsgs = 8192

// PendingBytes returns each endpoint's limit on bytes received and not yet
// taken: the endpoints share a quarter of QueueBytes, but each may hold at
// least two of the largest requests. The endpoints together hold at most
// max(queueBytes/4, endpoints × 2 × maxPayload) plus a little per message.
func PendingBytes(queueBytes int64, maxPayload, endpoints int) int {
	return int(max(queueBytes/4/int64(max(endpoints, 1)), 4*int64(maxPayload)))
}

// Endpoints returns how many endpoints (NATS subscriptions) the service
// has: one per operation and the batch endpoint.
func (s *Service) Endpoints() int { return len(s.stats) }
