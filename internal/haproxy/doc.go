// Package haproxy runs HAProxy for tests, in TCP mode on a free port of
// 127.0.0.1, in front of the nodes of a Galera cluster, and provides the
// health check that makes it follow the cluster: Check answers HTTP 200
// only when its node is Synced, wsrep_ready is ON and the node is in the
// primary component (as Percona's clustercheck script does), 503
// otherwise. HAProxy's own `option mysql-check` only logs in, which a
// node outside the primary component still lets it do, so the proxy
// would keep routing to a node that refuses every transaction (measured:
// see the package test).
//
// Two balancing modes: SingleWriter (every new connection to the first
// healthy node in order, the others `backup`, so one node takes the
// writes and instances do not conflict, but for a while after a failback)
// and RoundRobin (connections spread over every healthy node:
// multi-writer). In both, a server marked down has its connections shut
// (on-marked-down shutdown-sessions), so pools reconnect to a healthy
// node instead of keeping connections to a node that cannot serve.
//
// It needs the haproxy binary (Debian's haproxy package).
package haproxy
