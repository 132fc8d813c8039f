// Package faults is dbapi's own fault suite: it runs the bank example
// (./examples/bank) as real processes against a MariaDB server and a NATS
// server that the suite starts itself, drives a load whose every request
// is individually checkable, injects one fault at a time, and checks each
// request against the database afterwards.
//
// Every accounts.transfer the load sends carries an amount no other
// request carries, so its row in the transfers table (or the absence of
// one) tells what happened to it. The checks, per request:
//
//   - a success reply has exactly one row, the one it names;
//   - a 4xx, 503 or 504 reply, or "no responders", has none;
//   - a commit_outcome_unknown, any other 5xx, and a missing reply are
//     resolved against the database (applied or not) and counted;
//   - no row exists that no request accounts for;
//   - every balance equals its opening balance plus transfers in minus
//     transfers out, none is negative, and the total is unchanged;
//   - after the fault ends, a request succeeds again within a stated time.
//
// The faults: MariaDB stopped and restarted, MariaDB killed with -9, NATS
// restarted, one of two instances killed with -9, SIGTERM under load, the
// service's MySQL connections killed (KILL and KILL QUERY), latency, a
// stalled connection and a reset on the service's links to MariaDB and to
// NATS (Toxiproxy in process), a read-only database, and, for durable
// requests on JetStream, every instance down while clients publish
// (durable_test.go: a request the stream acknowledged must be applied
// exactly once, with its outcome stored).
//
// On a NATS cluster (natscluster_test.go: three nats-server processes of
// the suite's own, internal/natscluster; two instances given every URL;
// durable requests on a stream with three replicas): the node holding
// the instances' connections killed with -9 (request-reply and durable),
// the stream's leader killed with -9, the quorum lost for longer than
// the durable fetch loop's old backoff and then restored, a rolling
// restart, and instances started while the cluster has no JetStream meta
// leader; durable requests must resume within seconds of the stream and
// its consumer having leaders again. On one NATS server shared by
// services (sharednats_test.go): two services with the default stream
// names, and a Nats-Msg-Id reused for another request.
//
// TestGaleraFaults (galera_test.go) runs the same load and checks on a
// 3-node MariaDB Galera cluster of its own (internal/mariadbd), the
// instances connected to the nodes directly or through HAProxy with a
// wsrep-aware health check (internal/haproxy): a node killed with -9 and
// restarted, a node isolated (gmcast.isolate) and healed, and hot rows
// written through two nodes (certification conflicts, counted from the
// nodes' wsrep status). It writes its own table (DBAPI_FAULTS_GALERA_OUT,
// default faults/out/faults-galera.md) and needs galera-4, rsync and
// haproxy besides mariadbd.
//
// With a read replica (replica_test.go: a MariaDB primary and a GTID
// replica of the suite's own, two instances given it with
// DBAPI_MYSQL_REPLICA_DSN): the replica killed with -9, its SQL thread
// stopped, replication stopped, and MASTER_DELAY over and within
// DBAPI_REPLICA_MAX_LAG, under writers, sessions that read their own
// accounts back with each write's Dbapi-Position as Dbapi-After, and
// readers without a position. Besides the suite's checks of every write:
// no read fails, no session reads behind its own write, reads move to
// the primary during the fault and come back to the replica after it
// (dbapi_replica_reads_total{route}, scraped from each instance).
//
// Nothing here touches a shared server: the suite initializes its own
// MariaDB data directory in a temporary folder and runs its own mariadbd
// on a free port, and embeds its own nats-server (JetStream on, its store
// in the same temporary folder).
//
// `go test ./faults` runs a short version of every fault (what make test
// runs); DBAPI_FAULTS=full runs the long one (make faults). Either writes
// the table of results to DBAPI_FAULTS_OUT (default faults/out/faults.md,
// an untracked folder). Without mariadbd the suite is skipped outside CI
// and fails under CI=true.
package faults
