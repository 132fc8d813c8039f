package rowjson

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/dbapi-dev/dbapi"
)

// Options tune the encoding.
type Options struct {
	// MaxRows caps the number of rows Rows encodes: a query that returns
	// more is a dbapi ETOOLARGE error with code "result_too_large". Zero
	// means no cap.
	MaxRows int
	// JSON names the text columns that hold JSON documents, to embed as
	// JSON rather than as strings (MariaDB reports JSON columns as
	// LONGTEXT). Naming a column the result does not have, or one that is
	// not text, is an error.
	JSON []string
	// Count, when set, receives the number of rows Rows encoded.
	Count *int
	// Cache, when set, remembers the columns of the last result encoded
	// with it, so that the next result of the same statement skips
	// working them out. Give each statement its own Cache.
	Cache *Cache
}

// Cache holds the columns of the last result set a statement returned. It
// is safe for concurrent use; the zero value is ready. A result whose
// columns differ in name, type or scale (the schema changed) replaces it.
type Cache struct {
	last atomic.Pointer[plan]
}

// plan is the encoding of a result set's columns, read-only once made.
type plan struct {
	sig  []colSig
	json []string
	cols []column
}

type colSig struct {
	name, dbType string
	scale        int64
}

// matches reports whether types and jsonCols are what p was made for.
func (p *plan) matches(types []*sql.ColumnType, jsonCols []string) bool {
	if len(types) != len(p.sig) || !slices.Equal(jsonCols, p.json) {
		return false
	}
	for i, ct := range types {
		s := &p.sig[i]
		if ct.Name() != s.name || ct.DatabaseTypeName() != s.dbType || columnScale(ct) != s.scale {
			return false
		}
	}
	return true
}

// columnScale returns the column's decimal scale, or -1.
func columnScale(ct *sql.ColumnType) int64 {
	_, scale, ok := ct.DecimalSize()
	if !ok {
		return -1
	}
	return scale
}

// ErrMultipleRows is returned by One when the query returns more than one
// row.
var ErrMultipleRows = errors.New("rowjson: the query returned more than one row")

// Rows reads rows to the end and returns them as a JSON array of objects
// (an empty array when there are none). It closes rows.
func Rows(rows *sql.Rows, opts Options) (json.RawMessage, error) {
	defer rows.Close()
	enc, err := newEncoder(rows, opts)
	if err != nil {
		return nil, err
	}
	out := []byte{'['}
	n := 0
	for rows.Next() {
		if opts.MaxRows > 0 && n >= opts.MaxRows {
			return nil, TooManyRows(opts.MaxRows)
		}
		if n > 0 {
			out = append(out, ',')
		}
		if out, err = enc.appendRow(out, rows); err != nil {
			return nil, err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if opts.Count != nil {
		*opts.Count = n
	}
	return append(out, ']'), nil
}

// One reads the only row of rows and returns it as a JSON object. It
// returns sql.ErrNoRows when there is no row and ErrMultipleRows when there
// is more than one. It closes rows.
func One(rows *sql.Rows, opts Options) (json.RawMessage, error) {
	defer rows.Close()
	enc, err := newEncoder(rows, opts)
	if err != nil {
		return nil, err
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, err
		}
		return nil, sql.ErrNoRows
	}
	out, err := enc.appendRow(nil, rows)
	if err != nil {
		return nil, err
	}
	if rows.Next() {
		return nil, ErrMultipleRows
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	return out, nil
}

// TooManyRows is the error Rows returns when a result has more than max
// rows.
func TooManyRows(max int) *dbapi.Error {
	return dbapi.CodeErrorf(dbapi.ETOOLARGE, "result_too_large",
		"the result has more than %d rows; ask for fewer rows at a time (paginate)", max)
}

// encoder encodes the rows of one result set.
type encoder struct {
	cols []column
	vals []any
	ptrs []any
}

func newEncoder(rows *sql.Rows, opts Options) (*encoder, error) {
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	if len(types) == 0 {
		return nil, errors.New("rowjson: the statement returned no result set")
	}
	var p *plan
	if opts.Cache != nil {
		if p = opts.Cache.last.Load(); p != nil && !p.matches(types, opts.JSON) {
			p = nil
		}
	}
	if p == nil {
		if p, err = newPlan(types, opts.JSON); err != nil {
			return nil, err
		}
		if opts.Cache != nil {
			opts.Cache.last.Store(p)
		}
	}
	// One allocation holds the values and the pointers to them.
	n := len(types)
	both := make([]any, 2*n)
	e := &encoder{cols: p.cols, vals: both[:n:n], ptrs: both[n:]}
	for i := range e.ptrs {
		e.ptrs[i] = &e.vals[i]
	}
	return e, nil
}

// newPlan works out how to encode columns of these types.
func newPlan(types []*sql.ColumnType, jsonCols []string) (*plan, error) {
	p := &plan{
		sig:  make([]colSig, len(types)),
		json: slices.Clone(jsonCols),
		cols: make([]column, len(types)),
	}
	seen := make(map[string]bool, len(types))
	for i, ct := range types {
		name := ct.Name()
		if seen[name] {
			return nil, fmt.Errorf("rowjson: two columns are named %q; give one an alias", name)
		}
		seen[name] = true
		p.sig[i] = colSig{name: name, dbType: ct.DatabaseTypeName(), scale: columnScale(ct)}
		var err error
		p.cols[i], err = newColumn(name, p.sig[i].dbType, p.sig[i].scale, slices.Contains(jsonCols, name))
		if err != nil {
			return nil, err
		}
	}
	for _, name := range jsonCols {
		if !seen[name] {
			return nil, fmt.Errorf("rowjson: JSON column %q is not in the result", name)
		}
	}
	return p, nil
}

// appendRow scans the current row and appends it as an object.
func (e *encoder) appendRow(dst []byte, rows *sql.Rows) ([]byte, error) {
	clear(e.vals)
	if err := rows.Scan(e.ptrs...); err != nil {
		return nil, err
	}
	dst = append(dst, '{')
	for i := range e.cols {
		c := &e.cols[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, c.key...)
		var err error
		if dst, err = c.appendValue(dst, e.vals[i]); err != nil {
			return nil, err
		}
	}
	return append(dst, '}'), nil
}
