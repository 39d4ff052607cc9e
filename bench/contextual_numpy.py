#!/usr/bin/python3
"""NumPy/SciPy side of bench/contextual.sh.  Connects with the libpq
environment (PGHOST, PGPORT, PGUSER) to the database given by --db.
Every measurement is printed as "sample <key> <value>" (the script takes
medians), every check as "check <key> <value> <ok|FAIL>", facts as
"info <key> <text>".

  select      LinUCB in NumPy on the arms' posteriors, one context at a time,
              over the same contexts as the bandit_select loop; checks that it
              picks the arm bandit_select logged for each of them.
  lints-check recomputes the logged LinTS propensities by quadrature.
  agg         linear_posterior_agg (0 and 2 workers) beside psycopg2 + NumPy
              (end to end, and on data in memory); checks the sums.
  report      the markdown summary from the collected lines.
"""
import argparse
import io
import re
import statistics
import sys
import time
import warnings

import numpy as np

LP_RE = re.compile(r"^\(dim=(\d+), n=(\d+), lambda=([^,]+), A=\{(.*)\}, b=\{(.*)\}\)$")


def connect(db):
    import psycopg2
    return psycopg2.connect(dbname=db)


def out(kind, key, value, ok=None):
    line = f"{kind} {key} {value}"
    if ok is not None:
        line += " ok" if ok else " FAIL"
    print(line, flush=True)


def parse_linear_posterior(text):
    """linear_posterior's text form: (dim=, n=, lambda=, A={{row},...}, b={...})."""
    m = LP_RE.match(text)
    if m is None:
        raise ValueError("unexpected linear_posterior text: " + text[:80])
    d, n, lam = int(m[1]), int(m[2]), float(m[3])
    A = np.array(m[4].replace("{", "").replace("}", "").split(","), dtype=float).reshape(d, d)
    b = np.array(m[5].split(","), dtype=float)
    return d, n, lam, A, b


def experiment_arms(cur, name):
    """Per enabled arm (arm_id order): arm_id, n, A, b, the extension's theta; and the params."""
    cur.execute("SELECT params FROM bandit.experiment WHERE name = %s", (name,))
    params = cur.fetchone()[0]
    cur.execute("""SELECT a.arm_id, a.linear::text, linear_posterior_theta(a.linear)
                     FROM bandit.arm a JOIN bandit.experiment e ON e.id = a.experiment_id
                    WHERE e.name = %s AND a.enabled ORDER BY a.arm_id""", (name,))
    arms = []
    for arm_id, text, theta_db in cur.fetchall():
        d, n, lam, A, b = parse_linear_posterior(text)
        arms.append((arm_id, n, A, b, np.array(theta_db)))
    return params, arms


def factor(arms):
    """Cholesky factors and theta = A^-1 b in NumPy; theta checked against the extension's."""
    from scipy.linalg import cho_solve
    Ls, thetas, worst = [], [], 0.0
    for _, _, A, b, theta_db in arms:
        L = np.linalg.cholesky(A)
        theta = cho_solve((L, True), b)
        worst = max(worst, np.max(np.abs(theta - theta_db)) / np.max(np.abs(theta)))
        Ls.append(L)
        thetas.append(theta)
    return Ls, np.array(thetas), worst


def fetch_contexts(cur, n):
    cur.execute("SELECT x FROM bench_ctx_eval WHERE i <= %s ORDER BY i", (n,))
    return np.array([row[0] for row in cur.fetchall()], dtype=float)


# ---------------------------------------------------------------------------
# select: LinUCB one context at a time
# ---------------------------------------------------------------------------

def linucb_per_arm_solve(X, Ls, thetas, alpha):
    """Per context, per arm: mu = x.theta, w = |L^-1 x| (scipy solve_triangular), bound; argmax."""
    from scipy.linalg import solve_triangular
    k = len(Ls)
    picks = np.empty(len(X), dtype=int)
    bound = np.empty(k)
    for i, x in enumerate(X):
        for a in range(k):
            mu = x @ thetas[a]
            w = np.linalg.norm(solve_triangular(Ls[a], x, lower=True, check_finite=False))
            bound[a] = mu + alpha * w
        picks[i] = np.argmax(bound)
    return picks


def linucb_per_arm_blas(X, Ls, thetas, alpha):
    """The same, through the BLAS calls the extension makes (ddot, dtrsv, dnrm2) via scipy.linalg.blas."""
    from scipy.linalg.blas import ddot, dnrm2, dtrsv
    k = len(Ls)
    Fs = [np.asfortranarray(L) for L in Ls]
    picks = np.empty(len(X), dtype=int)
    bound = np.empty(k)
    for i, x in enumerate(X):
        for a in range(k):
            bound[a] = ddot(x, thetas[a]) + alpha * dnrm2(dtrsv(Fs[a], x, lower=1))
        picks[i] = np.argmax(bound)
    return picks


def linucb_vectorised(X, Ls, thetas, alpha):
    """Vectorised over arms: [Theta; L_1^-1; ...; L_k^-1] (k + k*d rows) times x, one matvec per context."""
    k, d = thetas.shape
    from scipy.linalg import solve_triangular
    M = np.vstack([thetas] + [solve_triangular(L, np.eye(d), lower=True) for L in Ls])
    picks = np.empty(len(X), dtype=int)
    for i, x in enumerate(X):
        z = M @ x
        W = z[k:].reshape(k, d)
        picks[i] = np.argmax(z[:k] + alpha * np.sqrt(np.einsum("ij,ij->i", W, W)))
    return picks


def cmd_select(args):
    conn = connect(args.db)
    cur = conn.cursor()
    params, arms = experiment_arms(cur, args.experiment)
    alpha = float(params["alpha"])
    Ls, thetas, theta_err = factor(arms)
    X = fetch_contexts(cur, args.n)
    arm_ids = np.array([a[0] for a in arms])
    variants = [("np_per_arm_solve", linucb_per_arm_solve),
                ("np_per_arm_blas", linucb_per_arm_blas),
                ("np_vectorised", linucb_vectorised)]
    picks = {}
    for key, fn in variants:
        t0 = time.perf_counter()
        picks[key] = fn(X, Ls, thetas, alpha)
        rate = len(X) / (time.perf_counter() - t0)
        out("sample", key, f"{rate:.1f}")
        if args.bandit_rate:
            out("sample", f"ratio_linucb_{key}", f"{args.bandit_rate / rate:.4f}")

    # outside the timing: the same picks as the extension, on the same contexts
    out("check", "theta_vs_numpy_max_rel", f"{theta_err:.2e}", theta_err < 1e-9)
    cur.execute("""SELECT d.arm_id, d.context, d.propensity FROM bandit.decision d
                     JOIN bandit.experiment e ON e.id = d.experiment_id
                    WHERE e.name = %s ORDER BY d.id""", (args.experiment,))
    logged = cur.fetchall()
    same_contexts = len(logged) == len(X) and all(
        np.array_equal(np.array(c), x) for (_, c, _), x in zip(logged, X))
    out("check", "logged_contexts_are_the_loop_contexts", f"{len(logged)}/{len(X)}", same_contexts)
    if same_contexts:
        logged_arms = np.array([a for a, _, _ in logged])
        for key, _ in variants:
            agree = int(np.sum(arm_ids[picks[key]] == logged_arms))
            out("check", f"linucb_same_arm_as_bandit_select.{key}", f"{agree}/{len(X)}", agree == len(X))
        props = np.array([p for _, _, p in logged])
        out("check", "linucb_propensity_is_1", f"{int(np.sum(props == 1.0))}/{len(X)}",
            bool(np.all(props == 1.0)))


# ---------------------------------------------------------------------------
# lints-check: the logged propensities against an independent quadrature
# ---------------------------------------------------------------------------

def prob_best(mu, sd, a, z):
    """P(arm a has the largest N(mu, sd^2) draw): trapezoid over z in sd_a units, log-domain product."""
    from scipy.special import log_ndtr
    others = np.arange(len(mu)) != a
    t = mu[a] + sd[a] * z                                   # a's score
    logs = log_ndtr((t[None, :] - mu[others, None]) / sd[others, None]).sum(axis=0)
    f = np.exp(logs - 0.5 * z * z) / np.sqrt(2 * np.pi)
    return np.trapz(f, z)


def cmd_lints_check(args):
    conn = connect(args.db)
    cur = conn.cursor()
    params, arms = experiment_arms(cur, args.experiment)
    v = float(params["v"])
    Ls, thetas, _ = factor(arms)
    index = {a[0]: i for i, a in enumerate(arms)}
    cur.execute("""SELECT d.arm_id, d.context, d.propensity FROM bandit.decision d
                     JOIN bandit.experiment e ON e.id = d.experiment_id
                    WHERE e.name = %s ORDER BY d.id LIMIT %s""", (args.experiment, args.sample))
    rows = cur.fetchall()
    z = np.linspace(-12, 12, 24001)
    worst_abs = worst_rel = 0.0
    logged, chosen_counts = [], np.zeros(len(arms))
    for arm_id, context, prop in rows:
        x = np.array(context)
        mu = thetas @ x
        sd = v * np.array([np.linalg.norm(np.linalg.solve(L, x)) for L in Ls])
        p = prob_best(mu, sd, index[arm_id], z)
        worst_abs = max(worst_abs, abs(p - prop))
        worst_rel = max(worst_rel, abs(p - prop) / p)
        logged.append(prop)
        chosen_counts[index[arm_id]] += 1
    # the quadrature itself: probabilities of all arms sum to 1 at a few contexts
    sum_err = 0.0
    for _, context, _ in rows[:5]:
        x = np.array(context)
        mu = thetas @ x
        sd = v * np.array([np.linalg.norm(np.linalg.solve(L, x)) for L in Ls])
        sum_err = max(sum_err, abs(sum(prob_best(mu, sd, a, z) for a in range(len(arms))) - 1))
    out("check", "lints_propensity_max_abs_err", f"{worst_abs:.2e}", worst_abs < 1e-8)
    out("check", "lints_propensity_max_rel_err", f"{worst_rel:.2e}", worst_rel < 1e-6)
    out("check", "lints_reference_quadrature_sum_err", f"{sum_err:.2e}", sum_err < 1e-10)
    logged = np.array(logged)
    out("info", "lints_logged_propensity",
        f"over {len(rows)} decisions: median {np.median(logged):.3f}, 10th percentile "
        f"{np.percentile(logged, 10):.3f}, min {logged.min():.2e}; arms chosen at least once: "
        f"{int(np.sum(chosen_counts > 0))} of {len(arms)}")


# ---------------------------------------------------------------------------
# agg: linear_posterior_agg beside psycopg2 + NumPy
# ---------------------------------------------------------------------------

def copy_binary(cur, table, d):
    """COPY (context, reward) TO STDOUT in binary into memory, parsed with one NumPy dtype.
    Every row must have the fixed layout of a 1-D float8[d] without NULLs and a float8:
    checked, never assumed.  Returns X (n x d, C order) and r, native floats."""
    buf = io.BytesIO()
    cur.copy_expert(f"COPY (SELECT context, reward FROM {table}) TO STDOUT WITH (FORMAT binary)", buf)
    t_fetch = time.perf_counter()
    raw = buf.getbuffer()
    header = 11 + 4 + 4          # signature, flags, extension length (0)
    row = np.dtype([("fields", ">i2"), ("len1", ">i4"), ("ndim", ">i4"), ("hasnull", ">i4"),
                    ("elemtype", ">u4"), ("dim", ">i4"), ("lbound", ">i4"),
                    ("x", [("len", ">i4"), ("v", ">f8")], (d,)), ("len2", ">i4"), ("r", ">f8")])
    body = len(raw) - header - 2
    if (bytes(raw[:11]) != b"PGCOPY\n\xff\r\n\x00" or body % row.itemsize
            or bytes(raw[-2:]) != b"\xff\xff"):
        raise ValueError("binary COPY output is not rows of one float8[%d] and one float8" % d)
    rows = np.frombuffer(raw, dtype=row, offset=header, count=body // row.itemsize)
    if not (np.all(rows["fields"] == 2) and np.all(rows["len1"] == 20 + 12 * d)
            and np.all(rows["ndim"] == 1) and np.all(rows["hasnull"] == 0)
            and np.all(rows["elemtype"] == 701) and np.all(rows["dim"] == d)
            and np.all(rows["x"]["len"] == 8) and np.all(rows["len2"] == 8)):
        raise ValueError("a row is not one float8[%d] and one float8" % d)
    X = rows["x"]["v"].astype(np.float64)
    r = rows["r"].astype(np.float64)
    del rows
    raw.release()
    return X, r, t_fetch


def gram_plain(X, r):
    return X.T @ X, X.T @ r


def gram_blocked(X, r, block=8192):
    """The fastest NumPy form found here (with the reference BLAS): X^T X by blocks of rows."""
    d = X.shape[1]
    G = np.zeros((d, d))
    v = np.zeros(d)
    for s in range(0, len(X), block):
        B = X[s:s + block]
        G += B.T @ B
        v += B.T @ r[s:s + block]
    return G, v


def timed_scalar(cur, sql):
    t0 = time.perf_counter()
    cur.execute(sql)
    value = cur.fetchone()[0]
    return time.perf_counter() - t0, value


def cmd_agg(args):
    conn = connect(args.db)
    conn.autocommit = True
    cur = conn.cursor()
    t, d, rows = args.table, args.d, args.rows
    agg_sql = f"SELECT linear_posterior_agg(context, reward) IS NOT NULL FROM {t}"
    scan_sql = f"SELECT count(context) + sum(reward) IS NOT NULL FROM {t}"
    # let the planner use 2 workers on small tables too (a quick run); with
    # 1,000,000 rows it plans 2 anyway
    for setting in ("parallel_setup_cost = 0", "parallel_tuple_cost = 0",
                    "min_parallel_table_scan_size = 0"):
        cur.execute("SET " + setting)
    cur.execute("SET max_parallel_workers_per_gather = 2")
    cur.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + agg_sql)
    plan = "\n".join(r[0] for r in cur.fetchall())
    planned = re.search(r"Workers Planned: (\d+)", plan)
    launched = re.search(r"Workers Launched: (\d+)", plan)
    out("check", "agg_parallel_workers_launched",
        launched[1] if launched else 0, bool(launched and planned and launched[1] == "2"))

    # --- verification (outside the timing) ---------------------------------
    X, r, _ = copy_binary(cur, t, d)
    if len(X) != rows:
        out("check", "agg_rows_fetched", f"{len(X)}/{rows}", False)
    G, v = gram_plain(X, r)
    Gb, vb = gram_blocked(X, r)
    if args.long_double:
        # a tighter reference: the same sums in x87 80-bit long double
        Gl = np.zeros((d, d), dtype=np.longdouble)
        vl = np.zeros(d, dtype=np.longdouble)
        for s in range(0, len(X), 50000):
            B = X[s:s + 50000].astype(np.longdouble)
            Gl += B.T @ B
            vl += B.T @ r[s:s + 50000].astype(np.longdouble)
        Gl, vl = Gl.astype(float), vl.astype(float)
        rel_np = max(np.max(np.abs(G - Gl) / np.abs(Gl)), np.max(np.abs(v - vl) / np.abs(vl)))
        out("info", "numpy_vs_long_double_max_rel_err", f"{rel_np:.2e}")
    for workers in (0, 2):
        cur.execute(f"SET max_parallel_workers_per_gather = {workers}")
        cur.execute(f"SELECT linear_posterior_agg(context, reward)::text FROM {t}")
        dim, n, lam, A, b = parse_linear_posterior(cur.fetchone()[0])
        XtX = A - lam * np.eye(dim)
        # elementwise relative error, against each entry's own magnitude
        rel_A = np.max(np.abs(XtX - G) / np.maximum(np.abs(G), np.finfo(float).tiny))
        rel_b = np.max(np.abs(b - v) / np.maximum(np.abs(v), np.finfo(float).tiny))
        out("check", f"agg_{workers}w_n", f"{n}/{len(X)}", n == len(X) and dim == d)
        out("check", f"agg_{workers}w_XtX_max_rel_err", f"{rel_A:.2e}", rel_A <= 1e-9)
        out("check", f"agg_{workers}w_Xtr_max_rel_err", f"{rel_b:.2e}", rel_b <= 1e-9)
        if args.long_double:
            rel_l = max(np.max(np.abs(XtX - Gl) / np.abs(Gl)), np.max(np.abs(b - vl) / np.abs(vl)))
            out("check", f"agg_{workers}w_vs_long_double_max_rel_err", f"{rel_l:.2e}", rel_l <= 1e-9)
    rel_blocked = max(np.max(np.abs(Gb - G) / np.abs(G)), np.max(np.abs(vb - v) / np.abs(v)))
    out("check", "numpy_blocked_vs_plain_max_rel_err", f"{rel_blocked:.2e}", rel_blocked <= 1e-9)
    out("info", "XtX_entry_magnitudes",
        f"|X^T X| entries from {np.min(np.abs(G)):.3g} to {np.max(np.abs(G)):.3g}, "
        f"|X^T r| from {np.min(np.abs(v)):.3g} to {np.max(np.abs(v)):.3g}")
    del X, r, G, v, Gb, vb

    # --- alternatives to the binary COPY, measured once ---------------------
    if args.fetch_alternatives:
        t0 = time.perf_counter()
        buf = io.BytesIO()
        cur.copy_expert(f"COPY (SELECT context, reward FROM {t}) TO STDOUT", buf)
        text = buf.getvalue().translate(bytes.maketrans(b"{}\t\n", b"  ,,"))
        del buf
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            flat = np.fromstring(text, sep=",")
        del text
        X = flat.reshape(-1, d + 1)[:, :d].copy()
        out("info", "fetch_text_copy_rows_per_s", f"{len(X) / (time.perf_counter() - t0):.0f}")
        del flat, X
        m = min(rows, 100000)
        named = conn.cursor(name="bench_ctx_fetch")
        named.itersize = 10000
        conn.autocommit = False
        t0 = time.perf_counter()
        named.execute(f"SELECT context, reward FROM {t} LIMIT {m}")
        data = [(c, rr) for c, rr in named]
        X = np.array([c for c, _ in data])
        out("info", "fetch_cursor_rows_per_s", f"{len(X) / (time.perf_counter() - t0):,.0f} rows/s (on the first {m:,} rows)")
        named.close()
        conn.rollback()
        conn.autocommit = True
        del data, X

    # --- timed runs: each run measures every case once, in this order -------
    for _ in range(args.runs):
        cur.execute("SET max_parallel_workers_per_gather = 0")
        secs, _ = timed_scalar(cur, agg_sql)
        agg0 = rows / secs
        secs, _ = timed_scalar(cur, scan_sql)
        scan0 = rows / secs
        cur.execute("SET max_parallel_workers_per_gather = 2")
        secs, _ = timed_scalar(cur, agg_sql)
        agg2 = rows / secs
        secs, _ = timed_scalar(cur, scan_sql)
        scan2 = rows / secs

        t0 = time.perf_counter()
        X, r, t_fetched = copy_binary(cur, t, d)
        t_parsed = time.perf_counter()
        gram_blocked(X, r)
        t_done = time.perf_counter()
        e2e = rows / (t_done - t0)
        t1 = time.perf_counter()
        gram_plain(X, r)
        mem_plain = rows / (time.perf_counter() - t1)
        t1 = time.perf_counter()
        gram_blocked(X, r)
        mem_blocked = rows / (time.perf_counter() - t1)
        del X, r

        out("sample", "agg_0w", f"{agg0:.0f}")
        out("sample", "agg_2w", f"{agg2:.0f}")
        out("sample", "scan_0w", f"{scan0:.0f}")
        out("sample", "scan_2w", f"{scan2:.0f}")
        out("sample", "np_e2e", f"{e2e:.0f}")
        out("sample", "np_e2e_fetch_s", f"{t_fetched - t0:.3f}")
        out("sample", "np_e2e_parse_s", f"{t_parsed - t_fetched:.3f}")
        out("sample", "np_e2e_gram_s", f"{t_done - t_parsed:.3f}")
        out("sample", "np_mem_plain", f"{mem_plain:.0f}")
        out("sample", "np_mem_blocked", f"{mem_blocked:.0f}")
        out("sample", "ratio_agg_0w_np_e2e", f"{agg0 / e2e:.4f}")
        out("sample", "ratio_agg_2w_np_e2e", f"{agg2 / e2e:.4f}")
        out("sample", "ratio_agg_0w_np_mem_plain", f"{agg0 / mem_plain:.4f}")
        out("sample", "ratio_agg_0w_np_mem_blocked", f"{agg0 / mem_blocked:.4f}")
        out("sample", "ratio_agg_0w_scan_0w", f"{agg0 / scan0:.4f}")


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

    def raw(key):
        return " ".join(f"{x:g}" for x in samples.get(key, []))

    def num(x, digits=0):
        return f"{x:,.{digits}f}"

    lines = []
    w = lines.append
    w(f"# contextual bandits benchmark ({info.get('date', '')})")
    w("")
    w(f"- machine: {info.get('machine', '')}")
    w(f"- BLAS: {info.get('blas', '')}")
    w(f"- software: {info.get('software', '')}")
    w(f"- build: {info.get('build', '')}")
    w(f"- sizes: {info.get('sizes', '')}")
    w(f"- state: {info.get('state', '')}")
    if "lints_logged_propensity" in info:
        w(f"- LinTS propensities logged in run 1: {info['lints_logged_propensity']}")
    w(f"- medians of {info.get('runs', '?')} runs; every ratio is the median of the per-run ratios "
      "(each case measured right after the case it is compared with, to cancel the machine's drift)")
    w("")
    w("## 1. bandit_select, K = %s arms, d = %s, server-side loop (one backend, so per core)"
      % (info.get("k", "?"), info.get("d", "?")))
    w("")
    w("| case | rate (calls/s) | baseline (calls/s) | ratio | target |")
    w("|---|---:|---:|---:|---|")
    w(f"| bandit_select, linucb, decision logged | {num(med('sel_linucb'))} | {num(med('base_linucb'))} "
      f"| {med('ratio_linucb_base'):.2f} | >= 20,000/s |")
    w(f"| bandit_select, lints, decision logged | {num(med('sel_lints'))} | {num(med('base_lints'))} "
      f"| {med('ratio_lints_base'):.2f} | >= 20,000/s |")
    w(f"| bandit_policy_prob(experiment, 'arm1', x), linucb: scores only, no draw, no log | "
      f"{num(med('prob_linucb'))} | | | |")
    w(f"| bandit_policy_prob(experiment, 'arm1', x), lints: scores and one propensity integral | "
      f"{num(med('prob_lints'))} | | | |")
    w(f"| the loop alone (iterating the contexts, no call) | {num(med('loop_only'))} | | | |")
    w("")
    w("Baseline: the same loop doing a bare `INSERT ... RETURNING id` of the same row (experiment_id, "
      "arm_id, propensity, the float8[%s] context, NULL unit, state_version) into a table of "
      "bandit.decision's shape (primary key, index, foreign key)." % info.get("d", "?"))
    w("")
    w("## 2. The same LinUCB arithmetic in NumPy, one context at a time, same state and contexts")
    w("")
    w("| NumPy variant (no logging) | contexts/s | bandit_select linucb / NumPy |")
    w("|---|---:|---:|")
    w(f"| per arm: `x @ theta`, `norm(solve_triangular(L, x))` (the spec'd one) | "
      f"{num(med('np_per_arm_solve'))} | {med('ratio_linucb_np_per_arm_solve'):.2f} |")
    w(f"| per arm through scipy.linalg.blas ddot/dtrsv/dnrm2 (the extension's calls) | "
      f"{num(med('np_per_arm_blas'))} | {med('ratio_linucb_np_per_arm_blas'):.2f} |")
    w(f"| vectorised over arms: one ({info.get('k', 'k')}+{info.get('k', 'k')}*d) x d matvec with "
      f"precomputed L^-1 | {num(med('np_vectorised'))} | {med('ratio_linucb_np_vectorised'):.2f} |")
    w("")
    w("bandit_select also writes the decision row; NumPy only computes the argmax (contexts already "
      "in memory as one array, posteriors fetched and factored beforehand).")
    w("")
    w(f"## 3. linear_posterior_agg over {info.get('rows', '?')} rows, d = {info.get('d', '?')}")
    w("")
    w("| case | rows/s | aggregate (0 workers) / case |")
    w("|---|---:|---:|")
    w(f"| linear_posterior_agg, max_parallel_workers_per_gather = 0 | {num(med('agg_0w'))} | |")
    w(f"| linear_posterior_agg, max_parallel_workers_per_gather = 2 | {num(med('agg_2w'))} | |")
    w(f"| psycopg2 + NumPy end to end (binary COPY, parse, X^T X and X^T r) | {num(med('np_e2e'))} "
      f"| {med('ratio_agg_0w_np_e2e'):.2f} (2 workers: {med('ratio_agg_2w_np_e2e'):.2f}; target >= 5) |")
    w(f"| NumPy in memory, `X.T @ X`, `X.T @ r` | {num(med('np_mem_plain'))} | "
      f"{med('ratio_agg_0w_np_mem_plain'):.2f} |")
    w(f"| NumPy in memory, blocks of 8,192 rows (fastest NumPy form found) | {num(med('np_mem_blocked'))} | "
      f"{med('ratio_agg_0w_np_mem_blocked'):.2f} |")
    w(f"| scan floor: `count(context) + sum(reward)`, 0 workers | {num(med('scan_0w'))} | "
      f"{med('ratio_agg_0w_scan_0w'):.2f} |")
    w(f"| scan floor, 2 workers | {num(med('scan_2w'))} | |")
    w("")
    w(f"End-to-end NumPy time split (medians, s): fetch {med('np_e2e_fetch_s'):.2f}, parse "
      f"{med('np_e2e_parse_s'):.2f}, X^T X and X^T r {med('np_e2e_gram_s'):.2f}. Fetch: `COPY (SELECT "
      "context, reward ...) TO STDOUT WITH (FORMAT binary)` through psycopg2's copy_expert into a "
      "BytesIO, parsed by one structured NumPy dtype (every row's layout checked).")
    if "fetch_text_copy_rows_per_s" in info:
        w(f"Alternatives measured once: text COPY + np.fromstring {num(float(info['fetch_text_copy_rows_per_s']))} "
          f"rows/s (fetch and parse only); server-side cursor (itersize 10,000, psycopg2's float8[] "
          f"parsing) {info.get('fetch_cursor_rows_per_s', '?')}, fetch only.")
    if "XtX_entry_magnitudes" in info:
        w(f"Data: {info['XtX_entry_magnitudes']}.")
    if "numpy_vs_long_double_max_rel_err" in info:
        w(f"Accuracy against the same sums in 80-bit long double (largest elementwise relative error): "
          f"NumPy's float64 `X.T @ X` {info['numpy_vs_long_double_max_rel_err']}, the aggregate "
          f"{next((v for k, v in checks if k == 'agg_0w_vs_long_double_max_rel_err'), '?').split()[0]} "
          f"(0 workers), {next((v for k, v in checks if k == 'agg_2w_vs_long_double_max_rel_err'), '?').split()[0]} "
          f"(2 workers) (it compensates its sums).")
    w("")
    w("## Checks (outside the timing)")
    w("")
    failed = [c for c in checks if c[1].endswith("FAIL")]
    seen = {}
    for key, value in checks:
        seen[key] = value          # the last run's value of each check
    for key, value in seen.items():
        w(f"- {key}: {value}")
    bad_keys = sorted({k for k, v in failed})
    w(f"- **{'ALL CHECKS PASSED' if not failed else 'FAILED: ' + ', '.join(bad_keys)}** "
      f"({len(checks)} checks over all runs)")
    w("")
    w("## Raw samples")
    w("")
    for key in sorted(samples):
        w(f"- {key}: {raw(key)}")
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    return 1 if failed else 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("select")
    s.add_argument("--db", required=True)
    s.add_argument("--experiment", required=True)
    s.add_argument("--n", type=int, required=True)
    s.add_argument("--bandit-rate", type=float, help="bandit_select's rate in this run, for the paired ratio")
    s = sub.add_parser("lints-check")
    s.add_argument("--db", required=True)
    s.add_argument("--experiment", required=True)
    s.add_argument("--sample", type=int, default=500)
    s = sub.add_parser("agg")
    s.add_argument("--db", required=True)
    s.add_argument("--table", default="bench_ctx_agg")
    s.add_argument("--rows", type=int, required=True)
    s.add_argument("--d", type=int, required=True)
    s.add_argument("--runs", type=int, default=5)
    s.add_argument("--fetch-alternatives", type=int, default=1)
    s.add_argument("--long-double", type=int, default=1)
    s = sub.add_parser("report")
    s.add_argument("--lines", required=True)
    s.add_argument("--output")
    args = p.parse_args()
    rc = {"select": cmd_select, "lints-check": cmd_lints_check, "agg": cmd_agg,
          "report": cmd_report}[args.cmd](args)
    sys.exit(rc or 0)


if __name__ == "__main__":
    main()
