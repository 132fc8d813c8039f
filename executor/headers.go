package executor

import (
	"strings"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/protocol"
	"github.com/dbapi-dev/dbapi/replica"
)

// Header returns the one value of a known request header, matching its
// name in any case (nats.Header.Get is case-sensitive, so
// "idempotency-key" would otherwise be ignored). present is false when the
// header is absent. The same header given twice with different values is
// refused with code: which one would run is not for us to guess.
func Header(h map[string][]string, name, code string) (value string, present bool, err error) {
	vals := protocol.Values(h, name)
	if len(vals) == 0 {
		return "", false, nil
	}
	for _, v := range vals[1:] {
		if v != vals[0] {
			return "", true, dbapi.CodeErrorf(dbapi.EINVALID, code, "header %s is given %d times with different values", name, len(vals))
		}
	}
	return vals[0], true, nil
}

// FromHeaders fills req's headers, deadline (from now), replication
// position (Dbapi-After) and idempotency key from the request headers a
// transport received. A timeout header
// that is present must hold a positive duration, and a key header that is
// present must not be empty or blank (Execute checks the key itself).
func (e *Executor) FromHeaders(now time.Time, req *Request, h map[string][]string) error {
	req.Header = h
	timeout, present, err := Header(h, protocol.HeaderTimeout, "bad_timeout")
	if err != nil {
		return err
	}
	if present && strings.TrimSpace(timeout) == "" {
		return dbapi.CodeErrorf(dbapi.EINVALID, "bad_timeout", "header %s is empty", protocol.HeaderTimeout)
	}
	if req.Deadline, err = e.Deadline(now, timeout, req.Op); err != nil {
		return err
	}
	// A malformed position is a 400 whether or not there are replicas:
	// a client's session must not work against one service and fail
	// against another.
	after, present, err := Header(h, protocol.HeaderAfter, "bad_position")
	if err != nil {
		return err
	}
	if present {
		if req.After, err = replica.ParsePosition(strings.TrimSpace(after)); err != nil {
			return err
		}
	}
	key, present, err := Header(h, protocol.HeaderIdempotencyKey, "bad_idempotency_key")
	if err != nil || !present {
		return err
	}
	if strings.TrimSpace(key) == "" {
		// Not a key, and not "no key" either: what CheckKey says of it.
		return e.CheckKey(key)
	}
	req.IdempotencyKey = key
	return nil
}
