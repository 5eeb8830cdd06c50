"""MySQL protocol spans against a real MariaDB from Debian (mariadb-server, mariadb-client).

Each test starts its own mariadbd on a free loopback port (mysqlutil.start_mariadb) and sonde
with --port on that port, so both ends of every connection to it are traced: CLIENT spans on
the client's process, SERVER spans on mariadbd's. Spans are read back from Jaeger.
"""
from __future__ import annotations

import os
import signal
import socket
import sys
import time
import urllib.request

import pytest

import harness
from harness import HarnessError
from mysqlutil import MariaDB, mariadb_installed, start_mariadb

pytestmark = pytest.mark.skipif(not mariadb_installed() and not os.environ.get("CI"),
                                reason="mariadb-server/mariadb-client not installed "
                                       "(tests/install-deps.sh test)")

APP = harness.APPS / "mysql_app.py"


@pytest.fixture
def mariadb(tmp_path):
    try:
        db = start_mariadb(tmp_path / "mariadb")
    except HarnessError as e:
        pytest.fail(str(e))
    yield db
    db.stop()


def db_spans(jaeger, service, count, start_us, kind, timeout=30, where=None):
    """Exactly `count` db spans of `kind` from `service`, sorted by start; waits for them, then
    a little more so that a surplus would show."""
    def ok(s):
        return s.service == service and s.kind == kind and "db.system.name" in s.tags and (where is None or where(s))

    try:
        jaeger.wait_for_spans(service, where=ok, count=count, timeout=timeout, start_us=start_us,
                              limit=1000)
    except AssertionError as e:
        # Say which ones came: a missing span is then told apart from a whole lost connection.
        got = sorted((s for s in jaeger.spans(service, start_us=start_us, limit=1000) if ok(s)),
                     key=lambda s: s.start_us)
        raise AssertionError(f"{e}; found: {[(s.name, s.tags.get('db.query.text')) for s in got]}"
                             ) from None
    time.sleep(2)
    spans = [s for s in jaeger.spans(service, start_us=start_us, limit=1000) if ok(s)]
    return sorted(spans, key=lambda s: s.start_us)


SESSION = [
    # (statement, span name, operation, collection, namespace, rows or None, error code or None)
    ("CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(32));",
     "CREATE items", "CREATE", "items", "shop", None, None),
    ("INSERT INTO items VALUES (1, 'a'), (2, 'b'), (3, 'c');",
     "INSERT items", "INSERT", "items", "shop", None, None),
    ("SELECT id, name FROM items WHERE id = 2;",
     "SELECT items", "SELECT", "items", "shop", 1, None),
    ("SELECT * FROM items;", "SELECT items", "SELECT", "items", "shop", 3, None),
    ("SELECT * FROM missing_table;",
     "SELECT missing_table", "SELECT", "missing_table", "shop", None, "1146"),
    ("UPDATE items SET name = 'z' WHERE id = 1;",
     "UPDATE items", "UPDATE", "items", "shop", None, None),
    # the client itself asks for the current database before it sends COM_INIT_DB for USE
    (None, "SELECT", "SELECT", None, "shop", 1, None),
    ("USE other_db;", "USE", "USE", None, "other_db", None, None),
    ("CREATE TABLE t2 (a INT);", "CREATE t2", "CREATE", "t2", "other_db", None, None),
    ("SELECT COUNT(*) FROM t2;", "SELECT t2", "SELECT", "t2", "other_db", 1, None),
]


def check_session_spans(spans, db: MariaDB, client: bool):
    assert [s.name for s in spans] == [row[1] for row in SESSION], [(s.name, s.tags.get("db.query.text")) for s in spans]
    for s, (stmt, name, op, coll, ns, rows, err) in zip(spans, SESSION):
        t = s.tags
        assert t["db.system.name"] == "mariadb", s
        assert t.get("db.operation.name") == op, s
        assert t.get("db.collection.name") == coll, s
        assert t.get("db.namespace") == ns, s
        assert t.get("db.response.returned_rows") == rows, s
        if err:
            assert s.is_error and t["db.response.status_code"] == err, s
            assert t["error.type"] == err, s
        else:
            assert not s.is_error, s
            assert "db.response.status_code" not in t, s
        if client:
            assert t["server.address"] == "127.0.0.1" and t["server.port"] == db.port, s
        else:
            assert t["server.port"] == db.port, s
        assert t["network.peer.address"] == "127.0.0.1", s
    # sanitized text: the literals are gone, the statement is recognisable
    texts = [s.tags.get("db.query.text") for s in spans]
    assert texts[2] == "SELECT id, name FROM items WHERE id = ?"
    assert texts[1] == "INSERT INTO items VALUES (?, ?), (?, ?), (?, ?)"
    assert texts[6] == "SELECT DATABASE()"
    assert texts[7] is None  # COM_INIT_DB carries a name, not SQL


def test_cli_session_client_and_server_spans(jaeger, sonde, mariadb, test_start_us):
    """A scripted `mariadb` client session of 9 statements (one error, USE other_db), which
    the client makes 10 commands (it asks SELECT DATABASE() before USE): 10 CLIENT spans on the
    client and 10 SERVER spans on mariadbd, with the same names and attributes."""
    sonde("--port", str(mariadb.port))
    script = "\n".join(row[0] for row in SESSION if row[0]) + "\n"
    res = mariadb.client("--force", database="shop", sql=script, check=False,
                         env=harness._env("mariadb-cli", None))
    assert "1146" in res.stderr, res.stderr  # the error really happened
    client = db_spans(jaeger, "mariadb-cli", len(SESSION), test_start_us, "client")
    check_session_spans(client, mariadb, client=True)
    server = db_spans(jaeger, "mariadbd", len(SESSION), test_start_us, "server")
    check_session_spans(server, mariadb, client=False)
    # the database's own time for each statement lies within the client's
    for c, s in zip(client, server):
        assert s.start_us >= c.start_us - 1000 and s.duration_us <= c.duration_us + 1000
        # both ends are traced on this host: the database's span is the client's child
        assert s.trace_id == c.trace_id and s.parent_id == c.span_id, (c.name, s.name)


PREPARED_RUNS = 60


PREPARED_CLIENT = r"""
import sys
import mysql.connector
host, port, user, password, runs = sys.argv[1:6]
conn = mysql.connector.connect(host=host, port=int(port), user=user, password=password,
                               database="shop", use_pure=True, ssl_disabled=True)
cur = conn.cursor(prepared=True)
got = 0
for i in range(int(runs)):
    cur.execute("SELECT v FROM p WHERE id <= %s", (1 + i % 3,))
    got += len(cur.fetchall())
cur.close()
conn.close()
print(got)
"""


def test_prepared_statements_binary_protocol(jaeger, sonde, mariadb, test_start_us):
    """mysql-connector-python with prepared=True sends COM_STMT_PREPARE once and
    COM_STMT_EXECUTE per call (checked on the wire when the seeds were recorded): on both ends,
    one PREPARE span and one span per execute, each named from the prepared text, with the
    real row counts. The pure-Python connector reads each packet header (4 bytes) with its own
    recv: its connection is classified from the first I/Os of the run joined."""
    import subprocess
    mariadb.client(database="shop", sql="CREATE TABLE p (id INT PRIMARY KEY, v INT);"
                   "INSERT INTO p VALUES (1, 10), (2, 20), (3, 30);")
    sonde("--port", str(mariadb.port))
    time.sleep(0.5)
    r = subprocess.run([sys.executable, "-c", PREPARED_CLIENT, "127.0.0.1", str(mariadb.port),
                        mariadb.user, mariadb.password, str(PREPARED_RUNS)],
                       capture_output=True, text=True, timeout=120,
                       env=harness._env("mysql-prep-client", None))
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) == sum(1 + i % 3 for i in range(PREPARED_RUNS))

    for service, kind in (("mariadbd", "server"), ("mysql-prep-client", "client")):
        def spans_named(name, count):
            return db_spans(jaeger, service, count, test_start_us, kind,
                            where=lambda s: s.name == name)

        execs = spans_named("SELECT p", PREPARED_RUNS)
        assert len(execs) == PREPARED_RUNS, (service, len(execs))
        rows = [s.tags.get("db.response.returned_rows") for s in execs]
        want = [1 + i % 3 for i in range(PREPARED_RUNS)]
        if kind == "server":
            assert rows == want
        else:
            # the connector reads every packet header and payload with a recv of its own: the
            # rows go past the I/Os the kernel captures per run, so they are not counted there
            # (the count is never guessed)
            assert all(r is None or r == w for r, w in zip(rows, want)), rows
        assert {s.tags.get("db.query.text") for s in execs} == {"SELECT v FROM p WHERE id <= ?"}
        prep = spans_named("PREPARE SELECT p", 1)
        assert len(prep) == 1 and prep[0].tags["db.operation.name"] == "PREPARE"
        assert prep[0].start_us < execs[0].start_us


N_ORDERS = 5


def test_n_plus_one_endpoint(jaeger, sonde, mariadb, tmp_path, test_start_us):
    """GET /orders?n=5 on an uninstrumented app runs 1 + 5 queries: its trace shows the server
    span with 6 db CLIENT spans under it, in the order they ran."""
    app = harness._start_printing_port(
        "mysql-app", [sys.executable, str(APP), "--port", "0", "--db-port", str(mariadb.port)],
        tmp_path / "app", harness._env("orders-app", None))
    try:
        sonde("--pid", str(app.pid))
        time.sleep(0.5)
        # the app connects here, under sonde: the handshake says MariaDB and the database
        with urllib.request.urlopen(f"{app.url}/setup?n={N_ORDERS}", timeout=30) as r:
            assert r.status == 200
        with urllib.request.urlopen(f"{app.url}/orders?n={N_ORDERS}", timeout=30) as r:
            body = r.read()
        assert body.count(b'"items": 2') == N_ORDERS
        root = jaeger.wait_for_spans("orders-app", where=lambda s: s.kind == "server" and
                                     s.tags.get("url.path") == "/orders", count=1,
                                     start_us=test_start_us)[0]
        trace = jaeger.wait_for_trace(root.trace_id, count=1 + 1 + N_ORDERS)
        dbs = sorted([s for s in trace if "db.system.name" in s.tags], key=lambda s: s.start_us)
        assert len(dbs) == 1 + N_ORDERS, [s.name for s in trace]
        assert all(s.parent_id == root.span_id and s.kind == "client" for s in dbs)
        assert all(s.tags["db.system.name"] == "mariadb" and s.tags["db.namespace"] == "shop"
                   for s in dbs)
        assert [s.name for s in dbs] == ["SELECT orders"] + ["SELECT order_items"] * N_ORDERS
        assert dbs[0].tags["db.response.returned_rows"] == N_ORDERS
        assert all(s.tags["db.response.returned_rows"] == 2 for s in dbs[1:])
        assert all(root.start_us <= s.start_us and
                   s.start_us + s.duration_us <= root.start_us + root.duration_us + 1000
                   for s in dbs)
    finally:
        app.stop()


def hang_up(conn):
    """Close a PyMySQL connection's socket at once, without COM_QUIT (its buffered reader holds
    the descriptor too, so shut the connection down first)."""
    conn._sock.shutdown(socket.SHUT_RDWR)
    conn._sock.close()


def test_bad_input(jaeger, sonde, mariadb, test_start_us):
    """Garbage on the port, a truncated command, a client that leaves mid-query and a result
    set far larger than the capture: no crash, no bogus span, the framing comes back."""
    pymysql = pytest.importorskip("pymysql")
    sonde_proc = sonde("--port", str(mariadb.port))
    time.sleep(0.5)
    # 1. garbage: the server greets, the "client" answers with noise, the server hangs up
    with socket.create_connection(("127.0.0.1", mariadb.port), timeout=5) as s:
        s.recv(4096)
        s.sendall(bytes(range(256)) * 4)
        try:
            s.recv(4096)
        except OSError:
            pass
    # 2. a huge result set, then a query on the same connection
    conn = pymysql.connect(host="127.0.0.1", port=mariadb.port, user=mariadb.user,
                           password=mariadb.password, database="shop", autocommit=True)
    with conn.cursor() as cur:
        cur.execute("SELECT REPEAT('x', 1000) AS pad, seq FROM seq_1_to_5000")
        assert len(cur.fetchall()) == 5000
        cur.execute("SELECT 42 AS answer")
        assert cur.fetchall() == ((42,),)
    # 3. a truncated command: a header for 100 bytes, 10 sent, then the connection closes
    conn._sock.sendall(b"\x64\x00\x00\x00\x03SELECT 1")
    hang_up(conn)
    # 4. a client that disconnects while its query runs
    conn = pymysql.connect(host="127.0.0.1", port=mariadb.port, user=mariadb.user,
                           password=mariadb.password, database="shop", autocommit=True)
    query = b"\x03SELECT SLEEP(1.5)"
    conn._sock.sendall(len(query).to_bytes(3, "little") + b"\x00" + query)
    time.sleep(0.3)
    hang_up(conn)
    time.sleep(2)

    # The client is this pytest process; PyMySQL sends SET NAMES at each connect.
    me = None
    for svc in jaeger.services():
        if any(s.service == svc and s.kind == "client" and "db.system.name" in s.tags
               for s in jaeger.spans(svc, start_us=test_start_us, limit=1000)):
            me = svc
    assert me, jaeger.services()
    try:
        client = db_spans(jaeger, me, 5, test_start_us, "client")
    except AssertionError as e:
        os.kill(sonde_proc.pid, signal.SIGUSR1)  # its statistics, into the log below
        time.sleep(0.5)
        raise AssertionError(f"{e}\nsonde's log:\n{sonde_proc.stderr()[-4000:]}") from None
    assert [s.name for s in client] == ["SET", "SELECT seq_1_to_5000", "SELECT", "SET", "SELECT"]
    big, small = client[1], client[2]
    assert "db.response.returned_rows" not in big.tags  # not captured, so not counted
    assert big.duration_us > 0 and not big.is_error
    assert small.tags["db.response.returned_rows"] == 1 and not small.is_error
    left = client[4]
    assert left.tags["db.query.text"] == "SELECT SLEEP(?)"
    assert left.is_error and left.tags["error.type"] == "connection_closed"
    assert sonde_proc.running
