#!/usr/bin/python3
"""psycopg2/NumPy side of bench/ope.sh.  Connects with the libpq environment
(PGHOST, PGPORT, PGUSER) to the database given by --db, table log (r, pt,
p0, q_logged, v_target).  Every measurement is printed as
"sample <key> <value>" (the script takes medians), every check as
"check <key> <value> <ok|FAIL>", facts as "info <key> <text>".

  check   outside the timing: the workers the parallel plans launch; the
          aggregates' ope_estimate (0 and 2 workers) against NumPy and the
          plain SQL; NumPy's fast moments against a two-pass reference and
          an exactly rounded sum; the alternatives to the fetch, once.
  e2e     one run of part 3: SELECT ope_ips(...), ope_snips(...) timed from
          this client (0 and 2 workers), then psycopg2 + NumPy end to end.
  report  the markdown summary from the collected lines.
"""
import argparse
import io
import math
import os
import re
import statistics
import sys
import time
import warnings

import numpy as np

COLS = ("r", "pt", "p0")
Z_975 = 1.959963984540054
AGG_SQL = "SELECT ope_ips(r, pt, p0), ope_snips(r, pt, p0) FROM log"
PLAIN_IPS_SQL = "SELECT sum(r * pt / p0) / count(*) FROM log"
PLAIN_SNIPS_SQL = "SELECT sum(r * pt / p0) / sum(pt / p0) FROM log"
FIELDS = ("estimate", "stderr", "ci_low", "ci_high", "n", "ess", "max_weight")


def connect(db):
    import psycopg2
    conn = psycopg2.connect(dbname=db)
    conn.autocommit = True
    cur = conn.cursor()
    # the plan the script's psql sessions use (parallel plans forced when allowed)
    for setting in ("parallel_setup_cost = 0", "parallel_tuple_cost = 0",
                    "min_parallel_table_scan_size = 0"):
        cur.execute("SET " + setting)
    return conn, cur


def out(kind, key, value, ok=None):
    line = f"{kind} {key} {value}"
    if ok is not None:
        line += " ok" if ok else " FAIL"
    print(line, flush=True)


def parse_estimate(text):
    """ope_estimate's text form (estimate,stderr,ci_low,ci_high,n,ess,max_weight)."""
    if text is None:
        return None
    parts = text.strip("()").split(",")
    if len(parts) != 7:
        raise ValueError("unexpected ope_estimate: " + text)
    return {f: (float(v) if v != "" else None) for f, v in zip(FIELDS, parts)}


def copy_binary(cur, cols=COLS, into=None):
    """COPY (cols) TO STDOUT in binary into memory, parsed by one NumPy dtype.
    Every row must be len(cols) non-NULL float8 fields: checked, never assumed.
    Returns the columns as native float64 arrays (into: arrays of the right
    length to parse into, reused from an earlier pass) and the time the fetch
    ended."""
    buf = io.BytesIO()
    cur.copy_expert(f"COPY (SELECT {', '.join(cols)} FROM log) TO STDOUT WITH (FORMAT binary)", buf)
    t_fetch = time.perf_counter()
    raw = buf.getbuffer()
    header = 11 + 4 + 4          # signature, flags, header extension length (0)
    fields = [("nfields", ">i2")]
    for c in cols:
        fields += [("len_" + c, ">i4"), (c, ">f8")]
    row = np.dtype(fields)
    body = len(raw) - header - 2
    if (bytes(raw[:11]) != b"PGCOPY\n\xff\r\n\x00" or bytes(raw[11:19]) != bytes(8)
            or body % row.itemsize or bytes(raw[-2:]) != b"\xff\xff"):
        raise ValueError("binary COPY output is not rows of %d float8" % len(cols))
    rows = np.frombuffer(raw, dtype=row, offset=header, count=body // row.itemsize)
    ok = np.all(rows["nfields"] == len(cols))
    for c in cols:
        ok &= np.all(rows["len_" + c] == 8)      # 8 bytes: a float8, not NULL (-1)
    if not ok:
        raise ValueError("a row is not %d non-NULL float8" % len(cols))
    if into is not None and all(len(a) == len(rows) for a in into):
        for a, c in zip(into, cols):
            np.copyto(a, rows[c])            # big-endian to native, into memory already touched
        data = into
    else:
        data = [rows[c].astype(np.float64) for c in cols]
    del rows
    raw.release()
    return data, t_fetch


def np_estimates(r, pt, p0, inplace=False):
    """IPS and SNIPS as ope_ips / ope_snips return them (estimate, standard error
    by the delta method, 95% normal interval, n, ESS, largest weight), in the
    fastest NumPy form found here: one pass for w and z = w r, then sums and dot
    products (pairwise summation, BLAS ddot) for the moments.  inplace: w and z
    overwrite pt and r (no new memory to fault in; the end-to-end timing)."""
    n = len(r)
    if inplace:
        w = np.divide(pt, p0, out=pt)
        z = np.multiply(w, r, out=r)
    else:
        w = pt / p0
        z = w * r
    s_z, s_w = z.sum(), w.sum()
    s_zz, s_ww, s_zw = z @ z, w @ w, z @ w
    max_w = w.max()
    m0, m1 = s_z / n, s_w / n
    c00 = (s_zz - n * m0 * m0) / (n - 1)
    c11 = (s_ww - n * m1 * m1) / (n - 1)
    c01 = (s_zw - n * m0 * m1) / (n - 1)
    ess = s_w * s_w / s_ww
    se_ips = math.sqrt(max(c00, 0.0) / n)
    snips = m0 / m1
    g0, g1 = 1.0 / m1, -m0 / (m1 * m1)
    se_snips = math.sqrt(max(g0 * g0 * c00 + 2 * g0 * g1 * c01 + g1 * g1 * c11, 0.0) / n)

    def est(e, se):
        return {"estimate": e, "stderr": se, "ci_low": e - Z_975 * se, "ci_high": e + Z_975 * se,
                "n": n, "ess": ess, "max_weight": max_w}
    return est(m0, se_ips), est(snips, se_snips)


def rel(a, b):
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b))


def compare(prefix, got, ref, tol_est=1e-10, tol_se=1e-8):
    """An ope_estimate against a reference: estimate to tol_est, stderr and ESS
    to tol_se, n and the largest weight exactly."""
    if got is None or got["estimate"] is None:
        out("check", prefix, "NULL", False)
        return
    e = rel(got["estimate"], ref["estimate"])
    out("check", prefix + "_estimate_rel_err", f"{e:.2e}", e <= tol_est)
    s = rel(got["stderr"], ref["stderr"])
    out("check", prefix + "_stderr_rel_err", f"{s:.2e}", s <= tol_se)
    if "ess" in ref:
        s = rel(got["ess"], ref["ess"])
        out("check", prefix + "_ess_rel_err", f"{s:.2e}", s <= tol_se)
    if "n" in ref:
        out("check", prefix + "_n", f"{int(got['n'])}/{int(ref['n'])}", int(got["n"]) == int(ref["n"]))
    if "max_weight" in ref:
        out("check", prefix + "_max_weight", f"{got['max_weight']!r}/{ref['max_weight']!r}",
            got["max_weight"] == ref["max_weight"])


# ---------------------------------------------------------------------------
# check
# ---------------------------------------------------------------------------

def explain_workers(cur, sql):
    cur.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql)
    plan = "\n".join(r[0] for r in cur.fetchall())
    planned = re.search(r"Workers Planned: (\d+)", plan)
    launched = re.search(r"Workers Launched: (\d+)", plan)
    return (planned[1] if planned else "0"), (launched[1] if launched else "0")


def cmd_check(args):
    conn, cur = connect(args.db)
    # 1. the parallel plans launch their 2 workers
    cur.execute("SET max_parallel_workers_per_gather = 2")
    for name, sql in (("plain", PLAIN_IPS_SQL), ("ope_ips", "SELECT ope_ips(r, pt, p0) FROM log"),
                      ("ope_snips", "SELECT ope_snips(r, pt, p0) FROM log"),
                      ("ope_dr", "SELECT ope_dr(r, pt, p0, q_logged, v_target) FROM log")):
        planned, launched = explain_workers(cur, sql)
        out("check", f"{name}_2w_workers_planned_launched", f"{planned}/{launched}",
            planned == "2" and launched == "2")
    cur.execute("SET max_parallel_workers_per_gather = 0")
    planned, launched = explain_workers(cur, "SELECT ope_ips(r, pt, p0) FROM log")
    out("check", "ope_ips_0w_no_workers", f"{planned}/{launched}", planned == "0")

    # 2. the data, as part 3 fetches it (plus the model columns for ope_dr)
    (r, pt, p0, q, v), _ = copy_binary(cur, COLS + ("q_logged", "v_target"))
    n = len(r)
    out("check", "rows_fetched", f"{n}/{args.rows}", n == args.rows)
    ips_np, snips_np = np_estimates(r, pt, p0)

    # NumPy's fast moments against a two-pass reference and an exactly rounded sum
    w = pt / p0
    z = w * r
    fsum_z, fsum_w = math.fsum(z.tolist()), math.fsum(w.tolist())
    exact_ips = fsum_z / n
    exact_snips = fsum_z / fsum_w
    se2_ips = math.sqrt(np.var(z, ddof=1) / n)
    C = np.cov(np.vstack([z, w]), ddof=1)
    g = np.array([1 / w.mean(), -z.mean() / w.mean() ** 2])
    se2_snips = math.sqrt(g @ C @ g / n)
    zdr = v + w * (r - q)
    dr_ref = {"estimate": math.fsum(zdr.tolist()) / n, "stderr": math.sqrt(np.var(zdr, ddof=1) / n),
              "n": n, "ess": fsum_w ** 2 / math.fsum((w * w).tolist()), "max_weight": w.max()}
    for name, fast, ex, se in (("ips", ips_np, exact_ips, se2_ips), ("snips", snips_np, exact_snips, se2_snips)):
        e, s = rel(fast["estimate"], ex), rel(fast["stderr"], se)
        out("check", f"numpy_{name}_vs_exactly_rounded_rel_err", f"{e:.2e}", e <= 1e-12)
        out("check", f"numpy_{name}_stderr_vs_two_pass_rel_err", f"{s:.2e}", s <= 1e-8)
    out("info", "estimates", f"IPS {ips_np['estimate']:.10g} (stderr {ips_np['stderr']:.3g}), "
        f"SNIPS {snips_np['estimate']:.10g} (stderr {snips_np['stderr']:.3g}), DR {dr_ref['estimate']:.10g} "
        f"(stderr {dr_ref['stderr']:.3g}); ESS {ips_np['ess']:.0f} of {n} rows, largest weight "
        f"{ips_np['max_weight']:.3g}")

    # 3. the aggregates and the plain SQL, 0 and 2 workers
    for workers in (0, 2):
        cur.execute(f"SET max_parallel_workers_per_gather = {workers}")
        cur.execute(AGG_SQL)
        ips, snips = map(parse_estimate, cur.fetchone())
        compare(f"ope_ips_{workers}w_vs_numpy", ips, ips_np)
        compare(f"ope_snips_{workers}w_vs_numpy", snips, snips_np)
        for name, got, ex in (("ope_ips", ips, exact_ips), ("ope_snips", snips, exact_snips)):
            e = rel(got["estimate"], ex)
            out("check", f"{name}_{workers}w_vs_exactly_rounded_rel_err", f"{e:.2e}", e <= 1e-12)
        for f in ("ci_low", "ci_high"):
            d = max(rel(ips[f], ips["estimate"] + (1 if f == "ci_high" else -1) * Z_975 * ips["stderr"]),
                    rel(snips[f], snips["estimate"] + (1 if f == "ci_high" else -1) * Z_975 * snips["stderr"]))
            out("check", f"ope_{workers}w_{f}_is_estimate_pm_1.96_stderr_rel_err", f"{d:.2e}", d <= 1e-12)
        cur.execute(PLAIN_IPS_SQL)
        plain_ips = cur.fetchone()[0]
        cur.execute(PLAIN_SNIPS_SQL)
        plain_snips = cur.fetchone()[0]
        e = rel(ips["estimate"], plain_ips)
        out("check", f"ope_ips_{workers}w_vs_plain_sql_rel_err", f"{e:.2e}", e <= 1e-10)
        e = rel(snips["estimate"], plain_snips)
        out("check", f"ope_snips_{workers}w_vs_plain_sql_rel_err", f"{e:.2e}", e <= 1e-10)
        e = rel(plain_ips, exact_ips)
        out("info", f"plain_sql_{workers}w_vs_exactly_rounded_rel_err", f"{e:.2e}")
        cur.execute("SELECT ope_dr(r, pt, p0, q_logged, v_target) FROM log")
        compare(f"ope_dr_{workers}w_vs_numpy", parse_estimate(cur.fetchone()[0]), dr_ref)
    cur.execute("SET max_parallel_workers_per_gather = 0")
    if args.floor:
        cur.execute("SELECT bench_floor.ips_floor(r, pt, p0), bench_floor.ips_lean(r, pt, p0) FROM log")
        floor, lean = cur.fetchone()
        e = rel(floor, exact_ips)
        out("check", "ips_floor_vs_exactly_rounded_rel_err", f"{e:.2e}", e <= 1e-10)
        lean_est = dict(zip(("estimate", "stderr", "n", "ess", "max_weight"), lean))
        compare("ips_lean_vs_numpy", lean_est, ips_np)
    del r, pt, p0, q, v, w, z, zdr

    # 4. the fetch, split (once): the server's side alone, the transfer into a
    # sink that keeps nothing, and the alternatives to a binary COPY
    class Sink:
        def __init__(self):
            self.calls = self.bytes = 0

        def write(self, b):
            self.calls += 1
            self.bytes += len(b)
    sink = Sink()
    t0 = time.perf_counter()
    cur.copy_expert("COPY (SELECT r, pt, p0 FROM log) TO STDOUT WITH (FORMAT binary)", sink)
    dt = time.perf_counter() - t0
    out("info", "fetch_binary_copy_to_sink",
        f"{dt:.2f}s ({n / dt:,.0f} rows/s; {sink.bytes / 1e6:,.0f} MB in {sink.calls:,} write() calls, one per row)")
    t0 = time.perf_counter()
    buf = io.BytesIO()
    cur.copy_expert("COPY (SELECT r, pt, p0 FROM log) TO STDOUT", buf)
    text = buf.getvalue()
    del buf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # np.fromstring's text mode is deprecated, and the fastest
        arr = np.fromstring(text.translate(bytes.maketrans(b"\t\n", b"  ")), sep=" ")
    if arr.size != 3 * n:
        raise ValueError("text COPY: %d values for %d rows" % (arr.size, n))
    dt = time.perf_counter() - t0
    del text, arr
    out("info", "fetch_text_copy_parsed", f"{dt:.2f}s ({n / dt:,.0f} rows/s: text COPY, split, float parse)")
    # the usual way an analyst fetches: SELECT, fetchall, np.array, then the
    # same estimates; every row, once (it takes seconds)
    t0 = time.perf_counter()
    cur.execute("SELECT r, pt, p0 FROM log")
    a = np.array(cur.fetchall(), dtype=np.float64)
    t1 = time.perf_counter()
    np_estimates(a[:, 0].copy(), a[:, 1].copy(), a[:, 2].copy())
    dt = time.perf_counter() - t0
    del a
    out("info", "fetch_select_fetchall", f"{n / (t1 - t0):,.0f} rows/s (SELECT + fetchall + np.array, on all {n:,} rows)")
    out("info", "e2e_fetchall_seconds", f"{dt:.3f}")


# ---------------------------------------------------------------------------
# e2e: one run of part 3
# ---------------------------------------------------------------------------

def numpy_end_to_end(cur, into=None):
    t0 = time.perf_counter()
    (r, pt, p0), t_fetched = copy_binary(cur, into=into)
    t_parsed = time.perf_counter()
    n = len(r)
    ips_np, snips_np = np_estimates(r, pt, p0, inplace=True)
    t_done = time.perf_counter()
    return n, ips_np, snips_np, (t_done - t0, t_fetched - t0, t_parsed - t_fetched, t_done - t_parsed), (r, pt, p0)


def cmd_e2e(args):
    conn, cur = connect(args.db)
    # A first, untimed pass: in a fresh process every new array's pages are
    # faulted in, and on this VM the first touch of memory costs about 10 us a
    # page (0.2 s per 80 MB column; the second time 0.01 s).  The timed second
    # pass parses into the first pass's arrays and computes in place: NumPy
    # gets the benefit of that doubt.  The first pass is reported for
    # information.
    _, _, _, cold, arrays = numpy_end_to_end(cur)
    out("sample", "e2e_numpy_first_pass", f"{cold[0]:.6f}")
    agg = {}
    for workers in (0, 2):
        cur.execute(f"SET max_parallel_workers_per_gather = {workers}")
        t0 = time.perf_counter()
        cur.execute(AGG_SQL)
        ips, snips = map(parse_estimate, cur.fetchone())
        agg[workers] = time.perf_counter() - t0
    # for information: one aggregate alone (NumPy below computes both, at about the cost of one)
    cur.execute("SET max_parallel_workers_per_gather = 0")
    t0 = time.perf_counter()
    cur.execute("SELECT ope_ips(r, pt, p0) FROM log")
    parse_estimate(cur.fetchone()[0])
    ips_alone = time.perf_counter() - t0
    n, ips_np, snips_np, (np_total, t_fetch, t_parse, t_compute), _ = numpy_end_to_end(cur, into=arrays)
    del arrays
    if n != args.rows:
        out("check", "e2e_rows_fetched", f"{n}/{args.rows}", False)
    # the same numbers, or the comparison is void (tolerances as in check)
    ok = rel(ips["estimate"], ips_np["estimate"]) <= 1e-10 and rel(snips["estimate"], snips_np["estimate"]) <= 1e-10
    if not ok:
        out("check", "e2e_same_estimates", f"{ips['estimate']}/{ips_np['estimate']}", False)
    out("sample", "e2e_agg_0w", f"{agg[0]:.6f}")
    out("sample", "e2e_agg_2w", f"{agg[2]:.6f}")
    out("sample", "e2e_numpy", f"{np_total:.6f}")
    out("sample", "e2e_numpy_fetch", f"{t_fetch:.6f}")
    out("sample", "e2e_numpy_parse", f"{t_parse:.6f}")
    out("sample", "e2e_numpy_compute", f"{t_compute:.6f}")
    out("sample", "speedup_e2e_first_pass_0w", f"{cold[0] / agg[0]:.4f}")
    out("sample", "speedup_e2e_0w", f"{np_total / agg[0]:.4f}")
    out("sample", "speedup_e2e_2w", f"{np_total / agg[2]:.4f}")
    out("sample", "e2e_ips_alone_0w", f"{ips_alone:.6f}")
    out("sample", "speedup_e2e_ips_alone_0w", f"{np_total / ips_alone:.4f}")


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------

def cmd_report(args):
    samples, checks, info = {}, [], {}
    for line in open(args.lines):
        parts = line.rstrip("\n").split(" ", 2)
        if len(parts) < 3:
            continue
        kind, key, value = parts
        if kind == "sample":
            samples.setdefault(key, []).append(float(value))
        elif kind == "check":
            checks.append((key, value))
        elif kind == "info":
            info[key] = value

    def med(key):
        v = samples.get(key)
        return statistics.median(v) if v else float("nan")

    rows = float(info.get("rows", "nan"))

    def secs(key):
        return f"{med(key):.3f}" if key in samples else "-"

    def rate(key):
        return f"{rows / med(key) / 1e6:.1f}" if key in samples else "-"

    def ns(key):
        return f"{med(key) / rows * 1e9:.1f}" if key in samples else "-"

    def cpu_ratio(a, b):
        key = f"cpuratio_{a}_{b}"
        return f"{med(key):.3f}" if key in samples else "-"

    def both(a, b):
        """the wall-time ratio a / b, and the backend CPU-time ratio when there is one"""
        text = f"{med(f'ratio_{a}_{b}'):.3f}"
        if f"cpuratio_{a}_{b}" in samples:
            text += f" (CPU {med(f'cpuratio_{a}_{b}'):.3f})"
        return text

    def wallcpu(key):
        k = "wallcpu_" + key
        return f"{med(k):.2f}" if k in samples else "-"

    def cpu_ns(key):
        k = "cpu_" + key
        return f"{med(k) / rows * 1e9:.1f}" if k in samples else "-"

    def verdict(value, target, higher_is_better):
        if math.isnan(value):
            return "-"
        ok = value >= target if higher_is_better else value <= target
        return "**met**" if ok else "**missed**"

    lines = []
    w = lines.append
    w(f"# off-policy estimator aggregates benchmark ({info.get('date', '')})")
    w("")
    w(f"- machine: {info.get('machine', '')}")
    w(f"- software: {info.get('software', '')}")
    w(f"- build: {info.get('build', '')}")
    w(f"- table `log`: {info.get('table', '')}; {info.get('setup', '')}")
    w(f"- settings: {info.get('settings', '')}")
    w(f"- data: {info.get('estimates', '')}")
    busy = samples.get("busy_before_sql", []) + samples.get("busy_before_e2e", [])
    waits = samples.get("quiet_wait_sql", []) + samples.get("quiet_wait_e2e", [])
    if busy:
        w(f"- other load: {info.get('quiet', '')}; non-idle share just before the {len(busy)} halves: median "
          f"{statistics.median(busy):.2f}, max {max(busy):.2f} ({sum(1 for b in busy if b > 0.15)} above 0.15); "
          f"waited {sum(waits):.0f}s in all")
    wc = [x for k, v in samples.items() if k.startswith("wallcpu_") for x in v]
    if wc:
        w(f"- 0-worker SQL samples whose wall time exceeds the backend's CPU time by more than 10% "
          f"(the backend waited for a CPU): {sum(1 for x in wc if x > 1.10)} of {len(wc)}")
    w(f"- medians of {info.get('runs', '?')} runs; every ratio is the median of the per-run ratios "
      "(the two sides measured one right after the other). SQL cases: one statement each in a psql "
      "session, `\\timing` with the one-row result sent to `\\o /dev/null` (server execution; parse, "
      "plan and the one-row transfer are under a millisecond). End-to-end cases: timed by the psycopg2 "
      "client. Whole script: " + info.get("duration", "?"))
    w("")
    w("## 1. Aggregates beside the plain SQL expression, max_parallel_workers_per_gather = 0")
    w("")
    w("| case | median (s) | Mrows/s | time ratio, case / plain | target | | backend CPU-time ratio |")
    w("|---|---:|---:|---:|---|---|---:|")
    w(f"| plain: `SELECT sum(r*pt/p0)/count(*) FROM log` | {secs('plain_0w')} | {rate('plain_0w')} | 1 | | | 1 |")
    for key, label, target in (("ips", "`SELECT ope_ips(r, pt, p0) FROM log`", 1.25),
                               ("snips", "`SELECT ope_snips(r, pt, p0) FROM log`", 1.25),
                               ("dr", "`SELECT ope_dr(r, pt, p0, q_logged, v_target) FROM log` (information)", None)):
        ratio = med(f"ratio_{key}_0w_plain_0w")
        w(f"| {label} | {secs(key + '_0w')} | {rate(key + '_0w')} | {ratio:.3f} | "
          f"{'<= %.2f' % target if target else ''} | {verdict(ratio, target, False) if target else ''} | "
          f"{cpu_ratio(key + '_0w', 'plain_0w')} |")
    w("")
    w("The aggregates return the whole ope_estimate (estimate, standard error, 95% interval, n, ESS, "
      "largest weight) from compensated sums and Welford moments; the plain expression returns the "
      "estimate alone from a plain float8 sum. The backend CPU-time ratio is the median of the per-run "
      "ratios of the backend's CPU time (utime + stime from /proc/self/stat, 10 ms ticks) for the same "
      "pairs: unlike wall time, it does not count time the backend spent waiting while other processes of "
      "this machine ran (a slower virtual CPU, from load outside the VM, shows in both).")
    w("")
    w("## 2. Two parallel workers beside none")
    w("")
    w("| case | 0 workers (s) | 2 workers (s) | speed-up, 0w / 2w | target | |")
    w("|---|---:|---:|---:|---|---|")
    for key, label, target in (("ips", "ope_ips", 1.6), ("snips", "ope_snips", 1.6),
                               ("dr", "ope_dr (information)", None), ("plain", "plain expression", None),
                               ("count", "`count(*)` (the scan alone)", None),
                               ("ips_noleader", "ope_ips, the 2 workers scan, the leader only gathers", 1.6),
                               ("snips_noleader", "ope_snips, the 2 workers scan, the leader only gathers", 1.6),
                               ("plain_noleader", "plain expression, the 2 workers scan, the leader only gathers", None),
                               ("count_noleader", "`count(*)`, the 2 workers scan, the leader only gathers", None)):
        if f"speedup_{key}" not in samples:
            continue
        sp = med(f"speedup_{key}")
        base = key.replace("_noleader", "")
        k0, k2 = (base + "_0w", base + "_2w_noleader") if key.endswith("_noleader") else (key + "_0w", key + "_2w")
        w(f"| {label} | {secs(k0)} | {secs(k2)} | {sp:.2f} | "
          f"{'>= %.1f' % target if target else ''} | {verdict(sp, target, True) if target else ''} |")
    w("")
    w("Plans forced with parallel_setup_cost = parallel_tuple_cost = 0 and max_parallel_workers_per_gather "
      f"= 2. In the first rows the leader also scans (parallel_leader_participation = on, the default), so "
      f"3 processes share the {os.cpu_count()} cores; in the last rows (parallel_leader_participation = off) the two "
      "workers scan and the leader only gathers their one-row partial states. "
      "Workers planned/launched, from EXPLAIN ANALYZE outside the timing: "
      + ", ".join(f"{k.split('_2w')[0]} {v.split()[0]}" for k, v in checks if k.endswith("_2w_workers_planned_launched"))
      + ".")
    w("")
    w("## 3. End to end from a psycopg2 client, beside psycopg2 + NumPy")
    w("")
    w("| case | median (s) | NumPy time / aggregate time | target | |")
    w("|---|---:|---:|---|---|")
    sp0, sp2 = med("speedup_e2e_0w"), med("speedup_e2e_2w")
    w(f"| `SELECT ope_ips(r, pt, p0), ope_snips(r, pt, p0) FROM log` (one scan), 0 workers | "
      f"{secs('e2e_agg_0w')} | {sp0:.2f} | >= 10 | {verdict(sp0, 10, True)} |")
    w(f"| the same, 2 workers | {secs('e2e_agg_2w')} | {sp2:.2f} | (>= 10) | {verdict(sp2, 10, True)} |")
    if "e2e_fetchall_seconds" in info:
        fa = float(info["e2e_fetchall_seconds"])
        r0, r2 = fa / med("e2e_agg_0w"), fa / med("e2e_agg_2w")
        w(f"| psycopg2 + NumPy the usual way: `SELECT r, pt, p0`, `fetchall()`, `np.array`, IPS and SNIPS "
          f"(measured once) | {fa:.3f} | {r0:.2f} (0 workers), {r2:.2f} (2 workers) | >= 10 | "
          f"{verdict(r0, 10, True)} |")
    w(f"| `SELECT ope_ips(r, pt, p0) FROM log` alone, 0 workers (information: NumPy still computes both) | "
      f"{secs('e2e_ips_alone_0w')} | {med('speedup_e2e_ips_alone_0w'):.2f} | | |")
    w(f"| psycopg2 + NumPy: binary COPY of (r, pt, p0), parsed, IPS and SNIPS with their standard errors, "
      f"ESS, largest weight (second pass in its process) | {secs('e2e_numpy')} | | | |")
    w(f"| &nbsp;&nbsp;of which the fetch: `COPY (SELECT r, pt, p0 FROM log) TO STDOUT WITH (FORMAT binary)` "
      f"via copy_expert into a BytesIO | {secs('e2e_numpy_fetch')} | | | |")
    w(f"| &nbsp;&nbsp;of which the parse: one structured big-endian dtype over the buffer, every row's "
      f"layout checked, copied into three float64 columns | {secs('e2e_numpy_parse')} | | | |")
    w(f"| &nbsp;&nbsp;of which the arithmetic: w = pt/p0, z = w r (in place), sums and dot products | "
      f"{secs('e2e_numpy_compute')} | | | |")
    w(f"| psycopg2 + NumPy, first pass in a fresh Python process (information: pays the page faults of "
      f"new memory) | {secs('e2e_numpy_first_pass')} | {med('speedup_e2e_first_pass_0w'):.2f} (0 workers) | | |")
    if "copy_devnull_0w" in samples:
        w(f"| the server's side of that COPY alone: `COPY (...) TO '/dev/null' WITH (FORMAT binary)` (psql) | "
          f"{secs('copy_devnull_0w')} | | | |")
    w("")
    w("Each run's client process first does one untimed NumPy pass and then times the aggregates and a "
      "second NumPy pass, which parses into the first pass's arrays and computes in place: a fresh process "
      "faults in every new array's pages, and on the VM this script was written on the first touch of new "
      "memory cost about 10 us per 4 kB page (0.2 s per 80 MB column, 0.01 s the second time), which would "
      "otherwise count against NumPy. (The fetch's BytesIO is new in each pass.)")
    w("")
    w("Fetch used: binary COPY parsed with NumPy (as bench/contextual_numpy.py), the fastest honest way "
      "measured here. Alternatives, measured once outside the runs: "
      f"binary COPY into a sink that keeps nothing {info.get('fetch_binary_copy_to_sink', '?')}; "
      f"text COPY {info.get('fetch_text_copy_parsed', '?')}; "
      f"plain SELECT {info.get('fetch_select_fetchall', '?')}.")
    w("")
    w("## Where the time goes (0 workers, medians)")
    w("")
    w("| case | median (s) | ns per row | backend CPU, ns per row | wall / CPU | ratio |")
    w("|---|---:|---:|---:|---:|---|")
    w(f"| `SELECT count(*) FROM log`: the scan alone | {secs('count_0w')} | {ns('count_0w')} | {cpu_ns('count_0w')} | {wallcpu('count_0w')} | |")
    w(f"| `SELECT sum(r)`: one trivial built-in C aggregate (float8pl) | {secs('sum_r_0w')} | {ns('sum_r_0w')} | {cpu_ns('sum_r_0w')} | {wallcpu('sum_r_0w')} | |")
    w(f"| `SELECT sum(r) + sum(pt) + sum(p0)`: three columns, three trivial aggregates | {secs('sum3_0w')} | {ns('sum3_0w')} | {cpu_ns('sum3_0w')} | {wallcpu('sum3_0w')} | |")
    w(f"| plain `sum(r*pt/p0)/count(*)` | {secs('plain_0w')} | {ns('plain_0w')} | {cpu_ns('plain_0w')} | {wallcpu('plain_0w')} | 1 |")
    w(f"| plain `avg(r*pt/p0), stddev_samp(r*pt/p0)` (an estimate and its spread, built-in) | "
      f"{secs('avg_stddev_0w')} | {ns('avg_stddev_0w')} | {cpu_ns('avg_stddev_0w')} | {wallcpu('avg_stddev_0w')} | {both('avg_stddev_0w', 'plain_0w')} x plain |")
    if "ips_floor_0w" in samples:
        w(f"| `bench_floor.ips_floor(r, pt, p0)`: ope_ips's signature and internal state, one plain sum "
          f"(the least such a C aggregate does) | {secs('ips_floor_0w')} | {ns('ips_floor_0w')} | {cpu_ns('ips_floor_0w')} | {wallcpu('ips_floor_0w')} | "
          f"{both('ips_floor_0w', 'plain_0w')} x plain |")
        w(f"| `bench_floor.ips_lean(r, pt, p0)`: ope_ips's outputs and checks, compensated sums, IPS-only "
          f"inlined path, no division per row | {secs('ips_lean_0w')} | {ns('ips_lean_0w')} | {cpu_ns('ips_lean_0w')} | {wallcpu('ips_lean_0w')} | "
          f"{both('ips_lean_0w', 'plain_0w')} x plain |")
    w(f"| ope_ips | {secs('ips_0w')} | {ns('ips_0w')} | {cpu_ns('ips_0w')} | {wallcpu('ips_0w')} | {both('ips_0w', 'plain_0w')} x plain"
      + (f", {both('ips_0w', 'ips_floor_0w')} x ips_floor" if "ips_floor_0w" in samples else "") + " |")
    w(f"| ope_ips again, later in the run | {secs('ips_again_0w')} | {ns('ips_again_0w')} | {cpu_ns('ips_again_0w')} | {wallcpu('ips_again_0w')} | "
      f"{both('ips_again_0w', 'plain_0w')} x plain"
      + (f", {both('ips_again_0w', 'ips_lean_0w')} x ips_lean" if "ips_lean_0w" in samples else "") + " |")
    w(f"| ope_snips | {secs('snips_0w')} | {ns('snips_0w')} | {cpu_ns('snips_0w')} | {wallcpu('snips_0w')} | {both('snips_0w', 'plain_0w')} x plain |")
    w(f"| ope_dr | {secs('dr_0w')} | {ns('dr_0w')} | {cpu_ns('dr_0w')} | {wallcpu('dr_0w')} | {both('dr_0w', 'plain_0w')} x plain |")
    w(f"| plain, jit = off | {secs('plain_nojit_0w')} | {ns('plain_nojit_0w')} | {cpu_ns('plain_nojit_0w')} | {wallcpu('plain_nojit_0w')} | |")
    w(f"| ope_ips, jit = off | {secs('ips_nojit_0w')} | {ns('ips_nojit_0w')} | {cpu_ns('ips_nojit_0w')} | {wallcpu('ips_nojit_0w')} | "
      f"{both('ips_nojit_0w', 'plain_nojit_0w')} x plain (jit off) |")
    w(f"| `count(*)`, 2 workers | {secs('count_2w')} | | | | |")
    w("")
    floor = med("count_0w")
    e2e = med("e2e_numpy")
    w("## Analysis")
    w("")

    def nsr(key):
        return med(key) / rows * 1e9

    w(f"- Per row at 0 workers: the scan (`count(*)`) costs {nsr('count_0w'):.0f} ns; the plain expression "
      f"{nsr('plain_0w'):.0f} ns; ope_ips {nsr('ips_0w'):.0f} ns, ope_snips {nsr('snips_0w'):.0f} ns, ope_dr "
      f"{nsr('dr_0w'):.0f} ns.")
    if "ips_floor_0w" in samples:
        w(f"- Of ope_ips's {nsr('ips_0w') - nsr('count_0w'):.0f} ns above the scan, the executor's part for any "
          f"3-argument C aggregate with an internal state (deforming three columns, one fmgr call, the NULL "
          f"checks: `ips_floor` minus `count(*)`) is {nsr('ips_floor_0w') - nsr('count_0w'):.0f} ns, and "
          f"ope_ips's own per-row work {nsr('ips_0w') - nsr('ips_floor_0w'):.0f} ns (backend CPU ratio "
          f"ope_ips / ips_floor {med('cpuratio_ips_0w_ips_floor_0w'):.2f}). `ips_lean`, the same outputs and "
          f"checks written for IPS alone, costs {nsr('ips_lean_0w') - nsr('ips_floor_0w'):.0f} ns over the floor.")
    ring = ("the table is larger than a quarter of shared_buffers, so every scan copies its pages from the "
            "kernel's page cache through a small ring buffer; " if info.get("table_in_shared_buffers") == "no" else "")
    w(f"- Two workers: the scan alone speeds up {med('speedup_count'):.2f}x ({ring}the leader and two "
      f"workers share {os.cpu_count()} cores), the aggregates {med('speedup_ips'):.2f}x (ope_ips) and "
      f"{med('speedup_snips'):.2f}x (ope_snips): their arithmetic scales better than the scan, so making it "
      "cheaper would lower the speed-up ratio while lowering both times.")
    w(f"- End to end: NumPy's {e2e:.2f} s is the fetch {med('e2e_numpy_fetch'):.2f} s (the server's side of the "
      f"binary COPY alone takes {secs('copy_devnull_0w')} s, {med('copy_devnull_0w') / med('ips_0w'):.1f}x ope_ips: "
      f"serialising 3 x {rows:,.0f} float8 costs more than aggregating them), the parse "
      f"{med('e2e_numpy_parse'):.2f} s and the arithmetic {med('e2e_numpy_compute'):.2f} s. NumPy's time over "
      f"the `count(*)` scan is {e2e / floor:.1f} at 0 workers and {e2e / med('count_2w'):.1f} at 2: the largest "
      "ratio even an aggregate costing nothing per row could reach here.")
    w("")
    w("What in src/ could make the aggregates faster (notes written with this script; the figures above are "
      "this run's):")
    w("")
    w("- src/ope_aggregates.c, `state_for()`: `aggregate_context()` (an out-of-line call into "
      "`AggCheckCallContext`) runs on every row; it is needed only when the state is created.")
    w("- src/ope.c: the per-row path is generic. `ope_state_add()` is an extern function in another file, "
      "and with -fPIC even the same-file calls to `ope_terms()` and `ope_uses_model()` go through the PLT; "
      "`add_terms()` loops over a run-time k (and k x k co-moments). Static inline per-estimator adds (or "
      "`ope_state_add`, `ope_terms`, `ope_uses_model` static inline in ope.h) with a compile-time k let the "
      "compiler unroll and fold it, as `ips_lean` is written. The Welford division per row is not the cost: "
      "the out-of-order core hides it (a variant of `ips_lean` with ope.c's Welford update, tried while "
      "writing this script, ran as fast as `ips_lean`).")
    w("- Queries that want several estimators over one log pay one transition per estimator per row: the "
      "SNIPS state already holds IPS's numerator and its variance, so one aggregate returning both (or "
      "every weighted estimator from one pass) would halve the per-row work of the part-3 query.")
    w("- None of this moves the part-3 bound above: the scan and, on the NumPy side, the server's own COPY "
      "dominate.")
    w("")
    w("## Checks (outside the timing)")
    w("")
    failed = sorted({k for k, v in checks if v.endswith("FAIL")})
    seen = {}
    for key, value in checks:
        seen[key] = value
    for key, value in seen.items():
        w(f"- {key}: {value}")
    for key in ("plain_sql_0w_vs_exactly_rounded_rel_err", "plain_sql_2w_vs_exactly_rounded_rel_err"):
        if key in info:
            w(f"- ({key}: {info[key]}, information)")
    w(f"- **{'ALL CHECKS PASSED' if not failed else 'FAILED: ' + ', '.join(failed)}** ({len(checks)} checks)")
    w("")
    w("## Raw samples (seconds; ratios)")
    w("")
    for key in sorted(samples):
        w(f"- {key}: " + " ".join(f"{x:g}" for x in samples[key]))
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    return 1 if failed else 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("check")
    s.add_argument("--db", required=True)
    s.add_argument("--rows", type=int, required=True)
    s.add_argument("--floor", type=int, default=1)
    s = sub.add_parser("e2e")
    s.add_argument("--db", required=True)
    s.add_argument("--rows", type=int, required=True)
    s = sub.add_parser("report")
    s.add_argument("--lines", required=True)
    s.add_argument("--output")
    args = p.parse_args()
    rc = {"check": cmd_check, "e2e": cmd_e2e, "report": cmd_report}[args.cmd](args)
    sys.exit(rc or 0)


if __name__ == "__main__":
    main()
