#!/usr/bin/python3
"""Crash soak: kill the server in the middle of the soak workload, restart, check (TAP).

    /usr/bin/python3 test/soak/crash.py                    # 5 kills, about 10 s of load before each
    CRASH_KILLS=20 CRASH_SECONDS=5 /usr/bin/python3 test/soak/crash.py
    bash test/soak/crash.sh                                # the same, building first unless SKIP_BUILD=1

scripts/test.sh runs the short form, test/python/crash_short.py (one kill
after about 3 s of load).  Runs as root (the server runs as the postgres OS
user through runuser) or as any other user (the server then runs as that
user); it needs the extension installed (make install) and PostgreSQL 15's
binaries (PG_CONFIG --bindir, default /usr/lib/postgresql/15/bin).

The shared development cluster is not touched.  A throwaway cluster is made
for the run: initdb into a new directory /var/tmp/bandit-crash.XXXXXX (owned
by postgres), listen_addresses = '' (Unix socket only) in its own socket
directory, port CRASH_PORT (5497), fsync = on, synchronous_commit = on,
full_page_writes = on (so a COMMIT that returned is on disk, and the
durability checked is the real one), then CREATE EXTENSION bandit (whatever
version is installed) and amcheck, and the seven experiments of
test/soak/soak.py.  It is stopped and removed at the end, also after a failure
or SIGINT/SIGTERM (CRASH_KEEP=1 keeps it).

Each round: the workload of test/soak/soak.py (CRASH_CLIENTS client processes,
each with its own connection, plus a session running bandit_refresh() every
CRASH_REFRESH_INTERVAL = 0.25 s) runs for a random 0.5x to 1.5x
CRASH_SECONDS (in odd rounds, then until that session's bandit_refresh() is
in flight, so that kills also land inside a refresh); then the whole server
is killed as a machine crash would stop it:

  1. the postmaster's pid is read from the first line of data/postmaster.pid;
  2. SIGSTOP to the postmaster (it can no longer fork or react to its
     children dying), then SIGSTOP to every process whose parent is the
     postmaster (read from /proc/*/stat; repeated until no new one appears):
     backends, parallel workers, checkpointer, background writer, WAL
     writer, autovacuum.  The whole server is now frozen at one moment;
  3. SIGKILL to all of them and to the postmaster, and a wait until every
     one is gone.

Killing only the postmaster would not do: the backends run on (each is its
own session leader, so no process-group signal reaches them) until they
notice the postmaster is gone, and could still commit meanwhile.  Stopping
them first means nothing runs between the "crash" and the end of every
process, and no process writes anything after its siblings are dead.  (A
kill cannot lose what the kernel's page cache already holds, so this tests
that a COMMIT is acknowledged only after its WAL record is written out of
shared memory, and crash recovery; fsync = on additionally makes it hold for
a power loss, which this test cannot simulate.)

The clients see their connections drop.  A transaction whose COMMIT had
returned is recorded as committed, one that failed before COMMIT was sent as
not committed, and one whose COMMIT was in flight as in doubt.  The server is
restarted with pg_ctl start -w; its log must show crash recovery ("was not
properly shut down; automatic recovery in progress", "redo done at"), and the
time pg_ctl took and the redo time from the log are reported.  Then:

  * every decision and reward whose commit a client saw is present, with its
    experiment, arm, propensity and value; none rolled back or not committed
    is present; nothing is in the log that no client committed;
  * each in-doubt transaction is there entirely or not at all (no decision
    without its rewards of the same transaction, no reward without the
    others), and is counted from then on as what it turned out to be;
  * no reward without its decision, no pending reward without its reward row
    or of an online experiment, every pending reward matching its reward and
    decision;
  * bandit_arm_stats (pulls, rewarded, reward_sum, ci_low, ci_high, prob_best)
    agrees with the log before any refresh; batch arms equal the aggregate of
    their folded (not pending) rewards;
  * after SELECT bandit_refresh(): every arm's posterior equals the aggregate
    of its reward log, ipw_sum the sum of reward / propensity (an arm counting
    a reward that is not in the log, or missing one, fails here);
  * amcheck's bt_index_check(index, heapallindexed => true) passes for every
    index of the bandit tables;
  * apart from the lost connections, no client or refresh error but the
    deliberate ones, no deadlock, and no server process crashed before the kill.
The next round runs on the recovered database, and the checks cover
everything logged so far.

Environment: CRASH_KILLS (5), CRASH_SECONDS (10), CRASH_CLIENTS (8),
CRASH_REFRESH_INTERVAL (0.25), CRASH_SEED (from the clock, printed),
CRASH_PORT (5497), CRASH_DIR (a new /var/tmp/bandit-crash.XXXXXX; if given,
it must not exist), CRASH_KEEP (0), PG_CONFIG.  Exit status 0 only if every
check passed.
"""
import atexit
import os
import pwd
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import psycopg2

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import soak  # noqa: E402
from taplib import Tap, run_checks  # noqa: E402  (soak put test/python/lib on the path)

DB = "bandit_crash"


def pg_bindir():
    cfg = os.environ.get("PG_CONFIG", "/usr/lib/postgresql/15/bin/pg_config")
    try:
        return subprocess.run([cfg, "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "/usr/lib/postgresql/15/bin"


def proc_stat(pid):
    """(state, parent pid) of a process, None if it does not exist."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    rest = s[s.rindex(")") + 2:].split()
    return rest[0], int(rest[1])


def children(ppid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st and st[1] == ppid:
                out.append(int(d))
    return out


def alive(pid):
    st = proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


class Cluster:
    """A throwaway PostgreSQL cluster in its own directory, socket and port."""

    def __init__(self, port):
        self.bindir = pg_bindir()
        self.root = os.geteuid() == 0
        base = os.environ.get("CRASH_DIR")
        if base:
            os.makedirs(base)
        else:
            base = tempfile.mkdtemp(prefix="bandit-crash.", dir="/var/tmp")
        self.base = base
        self.data = os.path.join(base, "data")
        self.sock = os.path.join(base, "socket")
        self.log = os.path.join(base, "server.log")
        self.port = port
        os.makedirs(self.sock)
        os.chmod(base, 0o700)
        if self.root:
            pw = pwd.getpwnam("postgres")
            for path in (base, self.sock):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        self.running = False

    def run(self, *cmd, check=True):
        full = (["runuser", "-u", "postgres", "--"] if self.root else []) + list(cmd)
        res = subprocess.run(full, capture_output=True, text=True, cwd="/")
        if check and res.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}): {res.stdout}{res.stderr}")
        return res

    def init(self):
        self.run(f"{self.bindir}/initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "-E", "UTF8")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(f"""
# bandit crash test
listen_addresses = ''
unix_socket_directories = '{self.sock}'
port = {self.port}
fsync = on
synchronous_commit = on
full_page_writes = on
wal_sync_method = fdatasync
shared_buffers = 64MB
max_connections = 40
max_worker_processes = 8
max_parallel_workers_per_gather = 2
log_checkpoints = on
""")

    def start(self):
        t = time.time()
        self.run(f"{self.bindir}/pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "300", "start")
        self.running = True
        return time.time() - t

    def log_size(self):
        return os.path.getsize(self.log) if os.path.exists(self.log) else 0

    def log_since(self, offset):
        with open(self.log, errors="replace") as f:
            f.seek(offset)
            return f.read()

    def conninfo(self, dbname):
        return {"host": self.sock, "port": str(self.port), "user": "postgres", "dbname": dbname}

    def postmaster_pid(self):
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            return int(f.readline())

    def crash(self, probe=lambda: None, wait=False):
        """Freeze the postmaster and every child, then SIGKILL them all.  With
        wait, first wait (up to 5 s) until probe() is true; returns, among
        others, probe() at the moment of the freeze."""
        pm = self.postmaster_pid()
        known = children(pm)
        if wait:
            limit = time.time() + 5
            while not probe() and time.time() < limit:
                time.sleep(0.0005)
        state = probe()
        os.kill(pm, signal.SIGSTOP)
        for pid in known:
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                pass
        stopped = set(known)
        while True:
            new = set(children(pm)) - stopped
            if not new:
                break
            for pid in new:
                try:
                    os.kill(pid, signal.SIGSTOP)
                except ProcessLookupError:
                    pass
            stopped |= new
        for pid in list(stopped) + [pm]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.running = False
        # wait until every process is dead, and the postmaster also reaped (by
        # init): the next postmaster takes a zombie for a running one
        limit = time.time() + 30
        while time.time() < limit and (any(alive(p) for p in stopped) or proc_stat(pm) is not None):
            time.sleep(0.02)
        left = [p for p in stopped | {pm} if alive(p)]
        zombies = [p for p in stopped | {pm} if proc_stat(p) is not None and not alive(p)]
        return pm, len(stopped), left, zombies, state

    def stop(self):
        if not os.path.exists(os.path.join(self.data, "postmaster.pid")):
            return
        res = self.run(f"{self.bindir}/pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "60", "stop", check=False)
        if res.returncode != 0:
            try:
                self.crash()
            except (OSError, ValueError):
                pass
        self.running = False

    def remove(self):
        shutil.rmtree(self.base, ignore_errors=True)


def recovery_phases(log):
    """Seconds spent in the phases of crash recovery, from the server log
    (default log_line_prefix '%m [%p] ')."""
    at = {}
    for m in re.finditer(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) \S+ \[\d+\] LOG:  (.*)$", log, re.M):
        t = time.mktime(time.strptime(m.group(1)[:19], "%Y-%m-%d %H:%M:%S")) + float("0" + m.group(1)[19:])
        for key, text in (("start", "starting PostgreSQL"), ("interrupted", "database system was interrupted"),
                          ("recovery", "automatic recovery in progress"), ("ready", "ready to accept connections")):
            if text in m.group(2) and key not in at:
                at[key] = t
    out = {}
    if "interrupted" in at and "recovery" in at:
        out["sync"] = at["recovery"] - at["interrupted"]   # fsync of the data directory before redo
    m = re.search(r"redo done at \S+ system usage: .*elapsed: ([0-9.]+) s", log)
    if m:
        out["redo"] = float(m.group(1))
    m = re.search(r"end-of-recovery.*\n.*checkpoint complete: .*total=([0-9.]+) s", log)
    if m:
        out["checkpoint"] = float(m.group(1))
    if "start" in at and "ready" in at:
        out["total"] = at["ready"] - at["start"]
    return out


def fmt_phases(ph):
    names = (("total", "start to ready"), ("sync", "data directory sync"), ("redo", "redo"),
             ("checkpoint", "end-of-recovery checkpoint"))
    return ", ".join(f"{label} {ph[k]:.2f} s" for k, label in names if k in ph)


def round_checks(tap, cl, ledger, load, label, pre_kill_log, restart_s, recovery_log):
    check = tap.check
    bad = [ln for ln in pre_kill_log.splitlines()
           if re.search(r"terminated by signal|PANIC|was terminated by|server process .* exited", ln)]
    check(not bad, f"{label}: no server process crashed before the kill", f"{bad[:3]}")
    need = ["database system was not properly shut down; automatic recovery in progress", "redo done at",
            "database system is ready to accept connections"]
    missing = [n for n in need if n not in recovery_log]
    phases = recovery_phases(recovery_log)
    check(not missing, f"{label}: the server restarted with crash recovery (server log)",
          f"pg_ctl start -w took {restart_s:.2f} s; server log: {fmt_phases(phases)}; missing {missing}")
    soak.load_checks(tap, load, label, expect_lost=True)
    lost = sum(1 for c in load.clients if c["lost"])
    check(lost == len(load.clients), f"{label}: every client saw its connection drop at the kill",
          f"{lost} of {len(load.clients)}")
    conn = psycopg2.connect(**cl.conninfo(DB))
    res = soak.verify(conn, ledger, tap, label, allow_doubt=True)
    cur = conn.cursor()
    cur.execute("""SELECT c.relname, bt_index_check(c.oid, true) IS NULL
                     FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                     JOIN pg_namespace n ON n.oid = c.relnamespace
                     JOIN pg_am am ON am.oid = c.relam
                    WHERE n.nspname = 'bandit' AND am.amname = 'btree'""")
    idx = cur.fetchall()
    conn.commit()
    conn.close()
    check(len(idx) > 0, f"{label}: amcheck bt_index_check(heapallindexed) passes for every index of the bandit tables",
          f"{len(idx)} indexes")
    return res, phases


def main(kills=None, seconds=None, label="crash"):
    tap = Tap()
    kills = int(os.environ.get("CRASH_KILLS", "5")) if kills is None else kills
    seconds = float(os.environ.get("CRASH_SECONDS", "10")) if seconds is None else seconds
    clients = int(os.environ.get("CRASH_CLIENTS", "8"))
    interval = float(os.environ.get("CRASH_REFRESH_INTERVAL", "0.25"))
    seed = int(os.environ.get("CRASH_SEED", str(int(time.time()))))
    port = int(os.environ.get("CRASH_PORT", "5497"))
    keep = os.environ.get("CRASH_KEEP", "0") == "1"
    rng = random.Random(seed)

    cl = Cluster(port)
    done = []

    def cleanup():
        if done:
            return
        done.append(1)
        try:
            cl.stop()
        finally:
            if not keep:
                cl.remove()

    def on_signal(signum, frame):
        cleanup()
        sys.exit(128 + signum)

    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    figures = []
    try:
        t = time.time()
        cl.init()
        cl.start()
        conn = psycopg2.connect(**cl.conninfo("postgres"))
        conn.autocommit = True
        conn.cursor().execute(f"CREATE DATABASE {DB}")
        conn.close()
        conn = psycopg2.connect(**cl.conninfo(DB))
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("SET client_min_messages = warning")
        cur.execute("CREATE EXTENSION bandit")
        cur.execute("CREATE EXTENSION amcheck")
        cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'bandit'")
        version = cur.fetchone()[0]
        cur.execute("SELECT current_setting('fsync'), current_setting('synchronous_commit'), "
                    "current_setting('full_page_writes')")
        settings = cur.fetchone()
        soak.create_experiments(conn)
        conn.close()
        tap.check(settings == ("on", "on", "on"),
                  f"{label}: throwaway cluster in {cl.base} (port {port}, socket only) with fsync, "
                  "synchronous_commit and full_page_writes on, bandit installed",
                  f"bandit {version}; set up in {time.time() - t:.1f} s")
        ledger = soak.Ledger()
        for r in range(1, kills + 1):
            lab = f"{label} round {r}"
            after = seconds * rng.uniform(0.5, 1.5)
            offset = cl.log_size()
            info = {}

            in_refresh = r % 2 == 1   # odd rounds: kill while a bandit_refresh() runs

            def kill(refreshing):
                info["crash"] = cl.crash(refreshing, wait=in_refresh)
                info["pre_log"] = cl.log_since(offset)

            load = soak.run_load(cl.conninfo(DB), seconds, clients, seed * 100 + r, interval, "sorted",
                                 kill_after=after, kill=kill)
            pm, nkids, left, zombies, refreshing = info["crash"]
            when = "a bandit_refresh() in flight" if refreshing else "no bandit_refresh() in flight"
            tap.check(not left and pm not in zombies,
                      f"{lab}: killed the postmaster (pid {pm}) and its {nkids} children after {after:.1f} s "
                      f"of load{' and a wait for a bandit_refresh() to start' if in_refresh else ''}, none left running",
                      f"left {left}; zombies {zombies}; {when}")
            ledger.add(load)
            offset = cl.log_size()
            restart_s = cl.start()
            res, phases = round_checks(tap, cl, ledger, load, lab, info["pre_log"], restart_s, cl.log_since(offset))
            calls = {}
            for c in load.clients:
                for k, v in c["calls"].items():
                    calls[k] = calls.get(k, 0) + v
            figures.append(f"round {r}: {after:.1f} s of load, killed with {when}, "
                           f"{sum(calls.values())} select/reward calls "
                           f"({sum(calls.values()) / after:.0f}/s); in doubt at the kill {res['doubt']} "
                           f"({res['doubt_applied']} committed); restart {restart_s:.2f} s ({fmt_phases(phases)}); "
                           f"log now {res['decisions']} decisions, {res['rewards']} rewards, {res['pending']} pending "
                           "after recovery")
        figures.append(f"decision ids of uncommitted transactions handed out again after a crash: "
                       f"{len(ledger.reused)} {sorted(ledger.reused)[:10]}")
        figures.append(f"in-doubt transactions over all rounds: {dict(ledger.resolved)}; extension {version}; "
                       f"seed {seed}")
    finally:
        cleanup()
    tap.check(keep or not os.path.exists(cl.base), f"{label}: the throwaway cluster was stopped and removed",
              cl.base)
    status = tap.report()
    for ln in figures:
        print(f"# {ln}")
    return status


if __name__ == "__main__":
    run_checks(main, "crash.py")
