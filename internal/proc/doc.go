// Package proc runs the server processes that tests and the benchmark
// start of their own (mariadbd, nats-server, haproxy): on Linux the
// kernel kills such a process when its caller dies, so that a test killed
// without a chance to clean up leaves no server running, and it has a
// process group of its own, so that a Ctrl-C on the terminal reaches only
// the caller, which stops its servers in order.
package proc
