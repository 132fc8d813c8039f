package opshttp

import "testing"

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
