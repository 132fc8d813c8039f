// Package natscluster runs a NATS cluster of the caller's own for tests:
// N nats-server processes on 127.0.0.1 (3 by default), each with
// JetStream on a store directory of its own, joined by routes into one
// cluster, every port (client, route, monitoring) free when chosen and
// kept across restarts. A node can be killed (-9), stopped (SIGTERM) and
// started again on the same ports and store, so that tests can take a
// cluster through the faults of a real one: a lost server, a lost
// quorum, a rolling restart, a cold start with no JetStream meta leader.
//
// The servers are real processes, built from this module's own
// nats-server dependency (Build), so that kill -9 is real and the
// servers' version is the one go.mod names. A node's folder (in
// Config.Dir) holds its configuration (nats.conf), its JetStream store
// (jetstream/) and its log (nats.log).
//
// Besides the controls, the cluster answers what a fault needs to know:
// which node is the JetStream meta leader (WaitMetaLeader), which node
// leads a stream or a consumer (StreamLeader, ConsumerLeader and their
// Wait forms), which node a client
// connection is on (NodeOf for a connection of the test's own, Conns for
// other processes' connections, by connection name, from each node's
// /connz), and whether a node has caught up after a restart (WaitHealthy,
// the server's /healthz).
package natscluster
