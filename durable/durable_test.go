package durable

import (
	"errors"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi"
)

func TestRetryable(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{dbapi.Errorf(dbapi.EUNAVAILABLE, "down"), true},
		{dbapi.Errorf(dbapi.ETIMEOUT, "late"), true},
		{&dbapi.Error{Kind: dbapi.ECOMMITUNKNOWN}, true},
		{dbapi.CodeErrorf(dbapi.ECONFLICT, "deadlock", "x"), true},
		{dbapi.CodeErrorf(dbapi.ECONFLICT, "lock_wait_timeout", "x"), true},
		{dbapi.CodeErrorf(dbapi.ECONFLICT, "insufficient_funds", "x"), false},
		{dbapi.CodeErrorf(dbapi.EINVALID, "malformed_json", "x"), false},
		{dbapi.Errorf(dbapi.ENOTFOUND, "x"), false},
		{dbapi.Errorf(dbapi.ETOOLARGE, "x"), false},
		{errors.New("a bug"), false},
	}
	for _, tt := range tests {
		if got := retryable(tt.err); got != tt.want {
			t.Errorf("retryable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	s := &Service{cfg: Config{Backoff: time.Second, MaxBackoff: 5 * time.Second}}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i, w := range want {
		if got := s.backoff(uint64(i + 1)); got != w {
			t.Errorf("backoff after delivery %d = %s, want %s", i+1, got, w)
		}
	}
	if got := s.backoff(1000); got != 5*time.Second {
		t.Errorf("backoff(1000) = %s", got)
	}
}

func TestNames(t *testing.T) {
	for _, tt := range []struct{ prefix, stream, consumer string }{
		{"dbapi", "DBAPI", "dbapi"},
		{"shop.orders", "SHOP_ORDERS", "shop_orders"},
		{"a-b_c.d", "A-B_C_D", "a-b_c_d"},
		{"x/y\\z", "X_Y_Z", "x_y_z"},
	} {
		if s, c := StreamName(tt.prefix), ConsumerName(tt.prefix); s != tt.stream || c != tt.consumer {
			t.Errorf("prefix %q: stream %q, consumer %q; want %q, %q", tt.prefix, s, c, tt.stream, tt.consumer)
		}
	}
}
