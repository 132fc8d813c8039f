package consumer

import (
	"strings"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/idempotency"
	"github.com/dbapi-dev/dbapi/protocol"
)

// header returns the one value of a known request header, matching its
// name in any case (nats.Header.Get is case-sensitive, so "idempotency-key"
// would otherwise be ignored). present is false when the header is absent.
// The same header given twice with different values is refused: which one
// would run is not for us to guess.
func header(h map[string][]string, name, code string) (value string, present bool, err error) {
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

// requestKey returns the request's idempotency key, or "" when it has
// none. A key header that is present must hold a valid key: an empty or
// blank one is a 400, never "no key".
func (s *Service) requestKey(h map[string][]string) (string, error) {
	key, present, err := header(h, protocol.HeaderIdempotencyKey, "bad_idempotency_key")
	if err != nil || !present {
		return "", err
	}
	if s.cfg.Idempotency == nil {
		return "", dbapi.CodeErrorf(dbapi.EINVALID, "idempotency_disabled", "this service does not accept %s", protocol.HeaderIdempotencyKey)
	}
	if strings.TrimSpace(key) == "" {
		return "", dbapi.CodeErrorf(dbapi.EINVALID, "bad_idempotency_key", "header %s is empty or blank", protocol.HeaderIdempotencyKey)
	}
	return key, idempotency.ValidKey(key)
}
