// Package replica sends reads to MySQL/MariaDB replicas without ever
// letting a client read behind its own write: the replicas' pools and
// health, the choice of a replica for a read, and the replication
// positions that travel as the Dbapi-Position and Dbapi-After headers.
//
// # Positions
//
// After a write commits, ReadPosition reads the primary's position on the
// connection that committed (MariaDB SELECT @@last_gtid: one round trip).
// It goes to the client as an opaque token (Position.Token) and comes
// back on a later request; ParsePosition reads it (anything else is a 400
// bad_position). Applied waits on a replica until it has applied a
// position: MariaDB MASTER_GTID_WAIT, MySQL WAIT_FOR_EXECUTED_GTID_SET.
// MySQL's side (@@GLOBAL.gtid_executed, WAIT_FOR_EXECUTED_GTID_SET,
// GTID_SUBSET, SHOW REPLICA STATUS) is written from its manual and is
// untested here; only MariaDB 10.11 is tested.
//
// A MariaDB token holds the session's last GTID, one replication domain.
// A client that writes in several domains (gtid_domain_id set per
// session, multi-source) is protected only for the last one.
//
// # Health and lag
//
// A Set checks each replica every CheckInterval: it must be reachable,
// both replication threads must run (SHOW SLAVE STATUS; SHOW REPLICA
// STATUS on MySQL), and its lag must be within MaxLag; else it gets no
// reads until a check passes again.
//
// Lag is not Seconds_Behind_Master: that reads 0 while a replica still
// misses the last commits (it compares the event being applied with the
// clock, and says nothing of what has not arrived, and NULL once a thread
// stops). Each check instead reads the primary's position
// (@@gtid_binlog_pos) and waits on the replica for it with
// MASTER_GTID_WAIT(position, MaxLag): the lag is the time from reading the
// position to the replica having applied it (a fraction of a millisecond
// for a replica that keeps up). A replica that does not get there within
// MaxLag is lagging, and while it stays behind its lag is the age of the
// oldest such position it has not applied, which keeps growing. What is
// measured is what read-your-writes depends on: whether the replica has
// the primary's commits, not what it thinks its delay is.
//
// # Choosing
//
// Pick returns a healthy replica in turn; for a request with a position,
// one that has applied it, waiting up to Wait, else none: the request
// then runs on the primary. A replica never makes a request fail: one
// that fails is taken out until its next check passes (report a failed
// request with Replica.Failed, and run it again on the primary).
// Count says where reads were sent, by Route.
package replica
