// Package mariadbd runs a throwaway MariaDB server of the caller's own: a
// data directory initialized with mariadb-install-db in a folder the
// caller chooses, a free port of 127.0.0.1, mariadbd started with
// --no-defaults and the caller's extra settings, waited for until it
// answers, and stopped, killed or restarted on the same data directory.
// The fault suite and the benchmark's database profiles use it; it needs
// the mariadb-server package (mariadbd and mariadb-install-db).
//
// The folder holds the data directory (data/) and the server's socket,
// pid file and error log (mariadbd.sock, mariadbd.pid, mariadbd.err).
// root connects from 127.0.0.1 without a password.
//
// StartReplication starts a primary and GTID replicas of it (replication.go),
// with the faults replica tests need: the SQL thread stopped, MASTER_DELAY,
// replication stopped, a replica killed with -9 and restarted.
package mariadbd
