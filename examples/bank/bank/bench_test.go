package bank_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/examples/bank/bank"
	"github.com/dbapi-dev/dbapi/executor"
	"github.com/dbapi-dev/dbapi/internal/dbtest"
	"github.com/dbapi-dev/dbapi/txrunner"
)

// BenchmarkTransferGroups runs transfers between random accounts among
// 1,000 through the executor, in process (no NATS), from 32 goroutines on
// a pool of 16: one transaction per request against group commit with
// several bounds. It measures what coalescing buys the database side; the
// benchmark tool (make bench) measures the whole service.
//
//	go test -run - -bench TransferGroups -benchtime 3s ./examples/bank/bank
func BenchmarkTransferGroups(b *testing.B) {
	const accounts = 1000
	db, _ := dbtest.New(b, dbtest.Bank()...)
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	for i := 1; i <= accounts; i++ {
		if _, err := db.Exec("INSERT INTO accounts (id, owner, balance) VALUES (?, 'bench', 1000000)", i); err != nil {
			b.Fatal(err)
		}
	}
	reg, err := dbapi.NewRegistry(bank.Operations()...)
	if err != nil {
		b.Fatal(err)
	}
	runner := txrunner.New(db, txrunner.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	configs := []executor.CoalesceConfig{{MaxGroup: 1}}
	for _, n := range []int{4, 8, 16} {
		for _, k := range []int{1, 4, 8} {
			configs = append(configs, executor.CoalesceConfig{MaxGroup: n, MaxGroups: k})
		}
	}
	for _, cc := range configs {
		name := "off"
		if cc.MaxGroup > 1 {
			name = fmt.Sprintf("max=%d,groups=%d", cc.MaxGroup, cc.MaxGroups)
		}
		b.Run(name, func(b *testing.B) {
			exec := executor.New(runner, reg, executor.Config{Coalesce: cc})
			b.SetParallelism(32 / max(1, runtime.GOMAXPROCS(0)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					from := 1 + rand.IntN(accounts)
					to := 1 + (from+rand.IntN(accounts-1))%accounts
					body := fmt.Appendf(nil, `{"from":%d,"to":%d,"amount":"0.01"}`, from, to)
					r := exec.Execute(context.Background(), executor.Request{Op: "accounts.transfer", Body: body})
					if r.Code != "ok" {
						b.Errorf("transfer: %s %s", r.Code, r.Body)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}
