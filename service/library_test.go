package service

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/consumer"
	"github.com/nats-io/nats.go/micro"
)

// The lending library of examples/library, written only in SQL files and
// served by dbapi alone, answers in its own words through the real
// service: 409 no_copies_left and 404 unknown_book with its messages, in
// a group commit (books.lend coalesces) and in a batch, and its endpoint
// metadata shows the database's column types and its error codes.
func TestLibraryEndToEnd(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.MigrationsDir, cfg.OperationsDir = "../examples/library/migrations", "../examples/library/operations"
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.CoalesceGroups = 1 // requests that wait together share a transaction
	m := e.startApp(cfg, App{Name: "dbapi"})

	want := func(what string, r reply, status int, code, msg string) {
		t.Helper()
		if r.err != nil || r.status != status || r.code != code || r.msg != msg || r.retry {
			t.Errorf("%s: got %v (retryable %v), want %d %s: %s", what, r, r.retry, status, code, msg)
		}
	}
	r := e.call("books.add", map[string]any{"isbn": "978-0441172719", "title": "Dune", "copies": 3})
	if r.status != 0 || !regexp.MustCompile(`^\{"id":1,"isbn":"978-0441172719","title":"Dune","copies":3,"added_at":"[0-9T:.-]+Z"\}$`).Match(r.body) {
		t.Fatalf("books.add: %v", r)
	}
	want("same isbn", e.call("books.add", map[string]any{"isbn": "978-0441172719", "title": "Dune"}),
		409, "duplicate_isbn", "a book with ISBN 978-0441172719 is already in the catalogue")
	want("unknown book", e.call("books.lend", map[string]any{"book": 42, "borrower": "ann"}),
		404, "unknown_book", "there is no book 42")

	// Ten borrowers want the three copies at once. The book's row is
	// locked meanwhile, so that their requests wait together and share
	// transactions: the ones past the third fail alone, each rolled back
	// to its savepoint, and the others of its group commit.
	db := e.sqlx()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "LOCK TABLES books WRITE"); err != nil {
		t.Fatal(err)
	}
	const borrowers = 10
	replies := make([]reply, borrowers)
	var wg sync.WaitGroup
	for i := range replies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i] = e.call("books.lend", map[string]any{"book": 1, "borrower": fmt.Sprint("borrower ", i)})
		}()
	}
	time.Sleep(500 * time.Millisecond)
	if _, err := conn.ExecContext(context.Background(), "UNLOCK TABLES"); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	lent, loan := 0, uint64(0)
	for i, r := range replies {
		if r.status == 0 {
			lent++
			var l struct{ ID uint64 }
			if err := json.Unmarshal(r.body, &l); err != nil {
				t.Fatal(err)
			}
			loan = l.ID
			if !strings.Contains(string(r.body), fmt.Sprintf(`"borrower":"borrower %d"`, i)) {
				t.Errorf("lend %d: %v", i, r)
			}
			continue
		}
		want(fmt.Sprint("lend ", i), r, 409, "no_copies_left", "no copies left of book 1")
	}
	var copies, loans int
	if err := db.Get(&copies, "SELECT copies FROM books WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	if err := db.Get(&loans, "SELECT COUNT(*) FROM loans"); err != nil {
		t.Fatal(err)
	}
	if lent != 3 || copies != 0 || loans != 3 {
		t.Errorf("%d lent, %d copies left, %d loans; want 3, 0, 3", lent, copies, loans)
	}
	if sum, count := groupSize(t, m.MetricsURL, "books.lend"); count == 0 || sum <= count {
		t.Errorf("books.lend ran %v requests in %v transactions: no group commit happened", sum, count)
	}

	// A row rule, and the same foreign key as above mapped otherwise.
	if r := e.call("loans.return", map[string]any{"loan": loan}); r.status != 0 || string(r.body) != `{"rows_affected":1,"last_insert_id":0}` {
		t.Errorf("loans.return: %v", r)
	}
	want("returned twice", e.call("loans.return", map[string]any{"loan": loan}),
		404, "not_lent", fmt.Sprintf("loan %d is not out (there is no such loan, or it was returned)", loan))
	want("remove a lent book", e.call("books.remove", map[string]any{"id": 1}),
		409, "book_has_loans", "book 1 has loans and stays in the catalogue")
	want("remove an unknown book", e.call("books.remove", map[string]any{"id": 9}),
		404, "unknown_book", "there is no book 9")

	// In a batch: the failed step is named, nothing of the batch is kept.
	r = e.batch(`{"ops":[
		{"op":"books.add","params":{"isbn":"978-0","title":"Solaris","copies":1},"as":"b"},
		{"op":"books.lend","params":{"book":"$b.id","borrower":"cy"}},
		{"op":"books.lend","params":{"book":"$b.id","borrower":"di"}}]}`)
	var body struct {
		Error struct {
			Step *int
			Op   string
		}
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.Error.Step == nil || *body.Error.Step != 2 || body.Error.Op != "books.lend" {
		t.Errorf("batch: %v", r)
	}
	// (The new book's id is not known: ids that rolled back are used up.)
	if r.status != 409 || r.code != "no_copies_left" || !regexp.MustCompile(`^step 2 \(books\.lend\): no copies left of book [2-9][0-9]*$`).MatchString(r.msg) {
		t.Errorf("batch: got %v", r)
	}
	var n int
	if err := db.Get(&n, "SELECT COUNT(*) FROM books WHERE isbn = '978-0'"); err != nil || n != 0 {
		t.Errorf("the failed batch left %d books (%v)", n, err)
	}

	// What clients are told: the errors and the real column types.
	info := call(e.nc, "$SRV.INFO.dbapi."+m.Consumer.Info().ID, nil, nil, 5*time.Second)
	var mi micro.Info
	if err := json.Unmarshal(info.body, &mi); err != nil {
		t.Fatal(err)
	}
	for _, ep := range mi.Endpoints {
		if ep.Subject != e.prefix+".books.lend" {
			continue
		}
		if got := ep.Metadata[consumer.MetadataErrors]; got != `[{"code":"no_copies_left","status":409,"retryable":false,"message":"no copies left of book :book"},`+
			`{"code":"unknown_book","status":404,"retryable":false,"message":"there is no book :book"}]` {
			t.Errorf("books.lend errors: %s", got)
		}
		if got := ep.Metadata[consumer.MetadataResultSchema]; !strings.Contains(got, `"title":{"description":"VARCHAR","type":"string"}`) ||
			!strings.Contains(got, `"required":["id","book_id","title","borrower","lent_at","copies_left"]`) {
			t.Errorf("books.lend result schema: %s", got)
		}
		return
	}
	t.Errorf("no books.lend endpoint in %s", info.body)
}

// groupSize reads the dbapi_group_size histogram of op: the requests and
// the transactions they ran in.
func groupSize(t *testing.T, url, op string) (sum, count float64) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) float64 {
		m := regexp.MustCompile(`(?m)^` + name + `\{op="` + regexp.QuoteMeta(op) + `"\} ([0-9.e+]+)$`).FindSubmatch(body)
		if m == nil {
			return 0
		}
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		return v
	}
	return read("dbapi_group_size_sum"), read("dbapi_group_size_count")
}
