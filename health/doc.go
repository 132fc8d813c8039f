// Package health watches whether the database can serve this instance's
// requests, and takes the instance out of the load while it cannot.
//
// Database.Check asks one server what a ping cannot tell: a Galera node
// (wsrep_on) must be ready (wsrep_ready=ON) and Synced
// (wsrep_local_state_comment), since a node that is joining or outside
// the primary component still answers ping and SELECT 1; and, for an
// instance that writes, the server must be writable (read_only,
// super_read_only and innodb_read_only OFF: a replica, or a primary
// demoted in a failover, is not).
//
// A Monitor runs the check every second. Its last result is what /readyz
// reports. Once the database has been unhealthy for longer than a short
// hysteresis it pauses the transports (the request-reply endpoints leave
// the NATS queue group, so that healthy instances get the requests; the
// durable transport stops fetching), and resumes them at the first
// healthy check. When every instance is paused, a requester gets "no
// responders" at once instead of a 503 from each.
package health
