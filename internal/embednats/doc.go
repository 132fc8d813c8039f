// Package embednats runs the NATS server a dbapi program starts in its
// own process when it is given no DBAPI_NATS_URL: for trying dbapi out
// and for the examples, never for production. It listens where it is
// asked, or on a free port of the same host when that one is taken (and
// says so, since clients that expect the usual port would reach whatever
// holds it).
package embednats
