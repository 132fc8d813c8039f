package executor

import (
	"context"
	"testing"
)

func TestRequestIDContext(t *testing.T) {
	type otherKey struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), otherKey{}, "other"))
	ctx := WithRequestID(parent, "req-1")
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"request id", RequestID(ctx), "req-1"},
		{"parent's value", ctx.Value(otherKey{}), "other"},
		{"no id", RequestID(parent), ""},
		{"innermost id wins", RequestID(WithRequestID(ctx, "req-2")), "req-2"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	// A context derived from it is cancelled with the parent.
	child, stop := context.WithCancel(ctx)
	defer stop()
	cancel()
	<-child.Done()
	if ctx.Err() != context.Canceled {
		t.Errorf("Err() = %v, want context.Canceled", ctx.Err())
	}
}
