package opshttp

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
)

func TestLocalURL(t *testing.T) {
	for addr, want := range map[string]string{
		":8080":         "http://127.0.0.1:8080/readyz",
		"0.0.0.0:8080":  "http://127.0.0.1:8080/readyz",
		"[::]:8080":     "http://[::1]:8080/readyz",
		"10.0.0.5:8080": "http://10.0.0.5:8080/readyz",
	} {
		if got, err := LocalURL(addr, "/readyz"); err != nil || got != want {
			t.Errorf("LocalURL(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
}

// A detail line follows /readyz's verdict, ready or not, and never
// decides it.
func TestReadyzDetail(t *testing.T) {
	s, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	defer s.Shutdown(context.Background())
	s.AddDetail(func() string { return "replicas: r1 down" })
	get := func() (int, string) {
		resp, err := http.Get(s.URL("/readyz"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var fail error
	s.AddCheck("db", func(context.Context) error { return fail })
	if code, body := get(); code != 200 || body != "ok\nreplicas: r1 down\n" {
		t.Errorf("ready: %d %q", code, body)
	}
	fail = errors.New("down")
	if code, body := get(); code != 503 || body != "not ready: db: down\nreplicas: r1 down\n" {
		t.Errorf("not ready: %d %q", code, body)
	}
}
