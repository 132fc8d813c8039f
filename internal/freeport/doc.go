// Package freeport finds TCP ports of 127.0.0.1 that are free, for the
// servers tests and the benchmark start of their own (mariadbd, Galera
// nodes, nats-server, HAProxy): several at once are distinct.
package freeport
