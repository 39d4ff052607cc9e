"""TAP reporting and scratch databases shared by the Python checks.

The checks run with /usr/bin/python3 (Debian's, which has NumPy, SciPy and
psycopg2), connect with the libpq environment (PGHOST, PGPORT, PGUSER) and
print TAP: the plan, then one "ok"/"not ok" line per check.
"""
import contextlib
import sys
import time
import traceback

import psycopg2


class Tap:
    """Collects checks and prints them as TAP at the end."""

    def __init__(self):
        self.results = []
        self.start = time.time()

    def check(self, ok, name, diag=None):
        self.results.append((bool(ok), name, diag))
        return bool(ok)

    def report(self):
        print(f"1..{len(self.results)}")
        for n, (ok, name, diag) in enumerate(self.results, 1):
            print(f"{'ok' if ok else 'not ok'} {n} - {name}")
            if diag:
                print(f"# {diag}")
        print(f"# {time.time() - self.start:.1f} s")
        return 0 if all(ok for ok, _, _ in self.results) else 1


class Db:
    """A cursor with the three calls the checks use: rows, one value, or the error."""

    def __init__(self, conn):
        self.conn = conn
        self.cur = conn.cursor()

    def q(self, sql, args=None):
        self.cur.execute(sql, args)
        return self.cur.fetchall() if self.cur.description else None

    def one(self, sql, args=None):
        return self.q(sql, args)[0][0]

    def error(self, sql, args=None):
        """(sqlstate, message) of a failing statement, None if it succeeds."""
        try:
            self.cur.execute(sql, args)
            return None
        except psycopg2.Error as exc:
            return exc.pgcode, (exc.pgerror or str(exc)).strip().splitlines()[0]


def connect(dbname):
    conn = psycopg2.connect(dbname=dbname)
    conn.autocommit = True
    return conn


@contextlib.contextmanager
def scratch_database(name):
    """A new database with the extension installed, dropped afterwards."""
    admin = connect("postgres")
    admin.cursor().execute(f"DROP DATABASE IF EXISTS {name}")
    admin.cursor().execute(f"CREATE DATABASE {name}")
    conn = None
    try:
        conn = connect(name)
        conn.cursor().execute("CREATE EXTENSION bandit")
        yield conn
    finally:
        if conn is not None:
            conn.close()
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


def run_checks(main, script):
    """Run main(); a crash is a failing test with a plan, not silence."""
    try:
        sys.exit(main())
    except Exception as exc:
        traceback.print_exc(file=sys.stdout)
        print("1..1")
        print(f"not ok 1 - {script} crashed: {type(exc).__name__}: {exc}")
        sys.exit(1)
