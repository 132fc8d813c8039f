package rowtest

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// Client runs the mariadb (or mysql) command-line client on a test's
// database.
type Client struct {
	bin  string
	args []string
	env  []string
}

// NewClient returns a client for cfg's server, user and database. It
// skips the test when neither a mariadb nor a mysql binary is on PATH.
func NewClient(t testing.TB, cfg *mysql.Config) *Client {
	t.Helper()
	bin, err := exec.LookPath("mariadb")
	if err != nil {
		if bin, err = exec.LookPath("mysql"); err != nil {
			t.Skip("no mariadb or mysql client binary; skipping the comparison with its output")
		}
	}
	args := []string{"--batch", "--raw", "-N", "--default-character-set=utf8mb4", "-u", cfg.User}
	if cfg.Net == "unix" {
		args = append(args, "--socket", cfg.Addr)
	} else {
		host, port, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, "--protocol=tcp", "-h", host, "-P", port)
	}
	env := os.Environ()
	if cfg.Passwd != "" {
		env = append(env, "MYSQL_PWD="+cfg.Passwd)
	}
	return &Client{bin: bin, args: append(args, cfg.DBName), env: env}
}

// Value runs "SELECT ISNULL(x), x ..." (one row) in UTC, as the service's
// sessions are, and returns x's bytes as printed (--batch --raw) and
// whether it is NULL.
func (c *Client) Value(t testing.TB, query string) ([]byte, bool) {
	t.Helper()
	cmd := exec.Command(c.bin, append(c.args, "-e", "SET time_zone = '+00:00'; "+query)...)
	cmd.Env = c.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mariadb -e %q: %v: %s", query, err, stderr.Bytes())
	}
	if len(out) < 3 || out[1] != '\t' || out[len(out)-1] != '\n' {
		t.Fatalf("mariadb -e %q printed %.100q", query, out)
	}
	return out[2 : len(out)-1], out[0] == '1'
}
