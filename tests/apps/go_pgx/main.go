// Command go_pgx sends PostgreSQL batches through pgx (github.com/jackc/pgx/v5) for sonde's
// integration tests: an uninstrumented Go client whose batches go out as one pipeline each.
//
//	go_pgx DSN N
//
// It creates table t, sends N INSERTs as one batch, then N SELECTs as one batch, then a batch
// of three whose second query fails (division by zero: the server skips the third until the
// batch's Sync), then one SELECT alone. It prints one JSON line: the sum of the SELECTs' values
// and the errors the failing batch returned, per query.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	"github.com/jackc/pgx/v5"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: go_pgx DSN N")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[2])
	if err != nil || n < 1 {
		fmt.Fprintln(os.Stderr, "go_pgx: N must be a positive number")
		os.Exit(2)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "go_pgx: connect:", err)
		os.Exit(1)
	}
	defer conn.Close(ctx)
	must := func(what string, err error) {
		if err != nil {
			fmt.Fprintf(os.Stderr, "go_pgx: %s: %v\n", what, err)
			os.Exit(1)
		}
	}
	_, err = conn.Exec(ctx, "CREATE TABLE t (id int)")
	must("create", err)

	b := &pgx.Batch{}
	for i := 0; i < n; i++ {
		b.Queue("INSERT INTO t VALUES ($1)", i)
	}
	must("insert batch", conn.SendBatch(ctx, b).Close())

	b = &pgx.Batch{}
	for i := 0; i < n; i++ {
		b.Queue("SELECT id FROM t WHERE id = $1", i)
	}
	br := conn.SendBatch(ctx, b)
	sum := 0
	for i := 0; i < n; i++ {
		var v int
		must("select", br.QueryRow().Scan(&v))
		sum += v
	}
	must("select batch", br.Close())

	b = &pgx.Batch{}
	b.Queue("SELECT count(*) FROM t")
	b.Queue("SELECT 1 / (id - id) FROM t WHERE id = 0")
	b.Queue("SELECT max(id) FROM t")
	br = conn.SendBatch(ctx, b)
	errs := make([]string, 0, 3)
	for i := 0; i < 3; i++ {
		var v int
		if err := br.QueryRow().Scan(&v); err != nil {
			errs = append(errs, err.Error())
		} else {
			errs = append(errs, "")
		}
	}
	br.Close()

	var last int
	must("select alone", conn.QueryRow(ctx, "SELECT max(id) FROM t").Scan(&last))
	out, _ := json.Marshal(map[string]any{"sum": sum, "max": last, "errors": errs})
	fmt.Println(string(out))
}
