// Package rawsql provides the operations sql.exec and sql.query, which run
// a client's own SQL statement with '?' placeholders and bound arguments.
//
// They are for trusted networks only and are registered only when
// DBAPI_ALLOW_RAW_SQL=true: anyone who may publish on their subjects can
// read and change every table the service's MySQL user can. Keep them away
// from untrusted clients with NATS permissions (deny publish on
// "dbapi.sql.>" for those users), and give the service a MySQL user with
// only the privileges it needs.
package rawsql
