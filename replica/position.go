package replica

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dbapi-dev/dbapi"
)

// Flavour is the kind of server, which decides the SQL of positions.
type Flavour uint8

// The flavours.
const (
	MariaDB Flavour = iota + 1 // GTIDs domain-server-seq; MASTER_GTID_WAIT
	MySQL                      // GTID sets uuid:interval; WAIT_FOR_EXECUTED_GTID_SET (untested here)
)

func (f Flavour) String() string {
	switch f {
	case MariaDB:
		return "MariaDB"
	case MySQL:
		return "MySQL"
	}
	return "unknown"
}

// Querier runs a query that returns one row: *sql.DB, *sql.Conn, *sql.Tx
// and their sqlx forms are Queriers.
type Querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// DetectFlavour asks the server what it is (VERSION() names MariaDB; any
// other server is taken for MySQL). Call it once per pool.
func DetectFlavour(ctx context.Context, q Querier) (Flavour, error) {
	var v string
	if err := q.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v); err != nil {
		return 0, fmt.Errorf("server version: %w", err)
	}
	if strings.Contains(strings.ToLower(v), "mariadb") {
		return MariaDB, nil
	}
	return MySQL, nil
}

// Position is a point in the primary's history of commits: a MariaDB GTID
// position or a MySQL GTID set. The zero Position is "no position": every
// replica has applied it. Positions travel to clients as opaque tokens
// (Token) and come back through ParsePosition.
type Position struct {
	flavour Flavour
	gtid    string // the server's text, validated
}

// IsZero reports whether p is no position.
func (p Position) IsZero() bool { return p.gtid == "" }

// Flavour is the kind of server p comes from.
func (p Position) Flavour() Flavour { return p.flavour }

// GTID is the server's own text of p ("0-1-42" on MariaDB), for logs.
func (p Position) GTID() string { return p.gtid }

// Token format: a letter for the flavour, a digit for the format's
// version, a dot, and the GTID text in unpadded URL-safe base64. Clients
// never parse it; the encoding keeps it opaque and safe in any header.
const (
	tokenMariaDB = "m1."
	tokenMySQL   = "y1."
	// maxToken bounds a token's length: far above a real position (a
	// MariaDB GTID is ~25 bytes; a MySQL set of a dozen servers ~600).
	maxToken = 4096
)

// Token returns p as the opaque text of a Dbapi-Position header; "" for
// the zero Position.
func (p Position) Token() string {
	if p.IsZero() {
		return ""
	}
	prefix := tokenMariaDB
	if p.flavour == MySQL {
		prefix = tokenMySQL
	}
	return prefix + base64.RawURLEncoding.EncodeToString([]byte(p.gtid))
}

// String is Token.
func (p Position) String() string { return p.Token() }

// ParsePosition reads a token Token made (a Dbapi-After header). Anything
// else, the empty string included, is a dbapi EINVALID error with code
// bad_position.
func ParsePosition(token string) (Position, error) {
	bad := func(why string) (Position, error) {
		return Position{}, dbapi.CodeErrorf(dbapi.EINVALID, "bad_position",
			"header Dbapi-After is not a position token (%s): send back a Dbapi-Position header as it was", why)
	}
	if token == "" {
		return bad("empty")
	}
	if len(token) > maxToken {
		return bad("too long")
	}
	var f Flavour
	switch {
	case strings.HasPrefix(token, tokenMariaDB):
		f = MariaDB
	case strings.HasPrefix(token, tokenMySQL):
		f = MySQL
	default:
		return bad("unknown format")
	}
	raw, err := base64.RawURLEncoding.DecodeString(token[len(tokenMariaDB):])
	if err != nil {
		return bad("not base64")
	}
	p, err := newPosition(f, string(raw))
	if err != nil || p.IsZero() {
		return bad("not a GTID position")
	}
	return p, nil
}

var (
	// mariaGTID is one GTID: domain-server-seq (32, 32 and 64 bits).
	mariaGTID = regexp.MustCompile(`^[0-9]{1,10}-[0-9]{1,10}-[0-9]{1,20}$`)
	// mysqlElem is one element of a GTID set: a server's UUID, then
	// intervals (n or n-m) and, from MySQL 8.3, tags.
	mysqlElem = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}` +
		`(:([0-9]{1,19}(-[0-9]{1,19})?|[A-Za-z_][A-Za-z0-9_]{0,31}))+$`)
)

// newPosition validates the server's text of a position and returns it
// in a normal form: MySQL's gtid_executed breaks lines after its commas.
func newPosition(f Flavour, text string) (Position, error) {
	switch f {
	case MariaDB:
		if text == "" {
			return Position{}, nil
		}
		for _, g := range strings.Split(text, ",") {
			if !validMariaGTID(g) {
				return Position{}, fmt.Errorf("not a MariaDB GTID: %q", g)
			}
		}
	case MySQL:
		text = strings.Join(strings.Fields(text), "")
		if text == "" {
			return Position{}, nil
		}
		for _, e := range strings.Split(text, ",") {
			if !mysqlElem.MatchString(e) {
				return Position{}, fmt.Errorf("not a MySQL GTID set element: %q", e)
			}
		}
	default:
		return Position{}, fmt.Errorf("unknown server flavour %d", f)
	}
	return Position{flavour: f, gtid: text}, nil
}

// validMariaGTID reports whether g is one GTID, domain-server-seq, whose
// numbers fit 32, 32 and 64 bits.
func validMariaGTID(g string) bool {
	if !mariaGTID.MatchString(g) {
		return false
	}
	parts := strings.Split(g, "-")
	_, err1 := strconv.ParseUint(parts[0], 10, 32)
	_, err2 := strconv.ParseUint(parts[1], 10, 32)
	_, err3 := strconv.ParseUint(parts[2], 10, 64)
	return err1 == nil && err2 == nil && err3 == nil
}

// mariaSeq is one domain's GTID: the server that wrote it and its seq_no.
type mariaSeq struct {
	server uint32
	seq    uint64
}

// mariaPos returns a MariaDB position's GTID of highest seq_no in each
// domain. text must be valid (newPosition).
func mariaPos(text string) map[uint32]mariaSeq {
	out := map[uint32]mariaSeq{}
	if text == "" {
		return out
	}
	for _, g := range strings.Split(text, ",") {
		parts := strings.Split(g, "-")
		d, _ := strconv.ParseUint(parts[0], 10, 32)
		srv, _ := strconv.ParseUint(parts[1], 10, 32)
		seq, _ := strconv.ParseUint(parts[2], 10, 64)
		if have, ok := out[uint32(d)]; !ok || seq > have.seq {
			out[uint32(d)] = mariaSeq{uint32(srv), seq}
		}
	}
	return out
}

// covers reports whether a replica known to have applied known has
// applied p too: MariaDB's rule (MASTER_GTID_WAIT's), the same or a
// higher seq_no in every domain of p. It answers false for MySQL, whose
// sets it does not compare, so that the server is asked.
func covers(known, p Position) bool {
	if p.IsZero() {
		return true
	}
	if known.flavour != MariaDB || p.flavour != MariaDB {
		return false
	}
	k := mariaPos(known.gtid)
	for d, g := range mariaPos(p.gtid) {
		if have, ok := k[d]; !ok || have.seq < g.seq {
			return false
		}
	}
	return true
}

// mergeMaria returns the MariaDB position that covers both a and b: the
// higher seq_no of each domain. A zero or MySQL a is ignored.
func mergeMaria(a, b Position) Position {
	m := mariaPos(b.gtid)
	if a.flavour == MariaDB {
		for d, g := range mariaPos(a.gtid) {
			if have, ok := m[d]; !ok || g.seq > have.seq {
				m[d] = g
			}
		}
	}
	domains := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(domains))
	for i, d := range domains {
		parts[i] = fmt.Sprintf("%d-%d-%d", d, m[d].server, m[d].seq)
	}
	return Position{flavour: MariaDB, gtid: strings.Join(parts, ",")}
}

// ReadPosition returns the primary's position after a commit, read on
// the connection that committed (right after COMMIT, before the
// connection goes back to the pool):
//
//   - MariaDB: SELECT @@SESSION.last_gtid, the GTID of this session's
//     last commit. It is empty (the zero Position) when the session has
//     committed nothing that was binary-logged. It still holds an earlier
//     transaction's GTID when the last one wrote nothing: harmless for a
//     request that wrote nothing, but a reply that stands for a write
//     committed elsewhere (a replay of an idempotent request) needs
//     PrimaryPosition instead.
//   - MySQL 8: SELECT @@GLOBAL.gtid_executed, every transaction the
//     server has committed, this one included (a superset, so a wait for
//     it may wait a little longer than needed). Untested here.
//
// One round trip.
func ReadPosition(ctx context.Context, q Querier, f Flavour) (Position, error) {
	query := "SELECT @@SESSION.last_gtid"
	if f == MySQL {
		query = "SELECT @@GLOBAL.gtid_executed"
	}
	var text sql.NullString
	if err := q.QueryRowContext(ctx, query).Scan(&text); err != nil {
		return Position{}, fmt.Errorf("read the position: %w", err)
	}
	return newPosition(f, text.String)
}

// primaryPosition returns everything the primary has committed to its
// binary log: MariaDB @@GLOBAL.gtid_binlog_pos, MySQL
// @@GLOBAL.gtid_executed.
func PrimaryPosition(ctx context.Context, q Querier, f Flavour) (Position, error) {
	query := "SELECT @@GLOBAL.gtid_binlog_pos"
	if f == MySQL {
		query = "SELECT @@GLOBAL.gtid_executed"
	}
	var text sql.NullString
	if err := q.QueryRowContext(ctx, query).Scan(&text); err != nil {
		return Position{}, fmt.Errorf("read the primary's position: %w", err)
	}
	return newPosition(f, text.String)
}

// errFlavour is returned for a position of another kind of server.
var errFlavour = errors.New("the position is of another kind of server")

// Applied waits until the server behind q (a replica) has applied p, for
// timeout at most, and reports whether it has. A timeout of zero or less
// asks without waiting. The wait is the server's: MariaDB
// MASTER_GTID_WAIT(p, seconds), which returns 0 or -1; MySQL
// WAIT_FOR_EXECUTED_GTID_SET(p, seconds), which returns 0 or 1, and
// GTID_SUBSET(p, @@GLOBAL.gtid_executed) for no wait (MySQL's side is
// written from its manual and untested here). The zero Position is
// always applied. f is the server's flavour; a position of another
// flavour is an error.
func Applied(ctx context.Context, q Querier, f Flavour, p Position, timeout time.Duration) (bool, error) {
	if p.IsZero() {
		return true, nil
	}
	if p.flavour != f {
		return false, errFlavour
	}
	secs := max(timeout, 0).Seconds()
	var res sql.NullInt64
	var err error
	switch {
	case f == MariaDB:
		err = q.QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, ?)", p.gtid, secs).Scan(&res)
	case secs == 0:
		err = q.QueryRowContext(ctx, "SELECT IF(GTID_SUBSET(?, @@GLOBAL.gtid_executed), 0, 1)", p.gtid).Scan(&res)
	default:
		err = q.QueryRowContext(ctx, "SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?)", p.gtid, secs).Scan(&res)
	}
	if err != nil {
		return false, fmt.Errorf("wait for position %s: %w", p.gtid, err)
	}
	if !res.Valid {
		return false, fmt.Errorf("wait for position %s: NULL", p.gtid)
	}
	return res.Int64 == 0, nil
}
