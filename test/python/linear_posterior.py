#!/usr/bin/python3
"""linear_posterior, its aggregate and the contextual policies against NumPy/SciPy (TAP).

Every expected value is computed here, from the data this script generated
or from A and b parsed from the extension's text output; none is copied
from the extension.  Sections:

 1. linear_posterior_agg (2-argument form, lambda 1; 3-argument form,
    lambda 0.1 and 1) on random problems, d = 1, 3, 8, 32 (one of them with
    fewer rows than dimensions), with NULL rows mixed in:
      A = lambda I + X^T X, b = X^T r, against a long double (64-bit
      mantissa) NumPy reference: |A - A_ref| <= 1e-12 (|X|^T |X| + lambda I)
      and |b - b_ref| <= 1e-12 |X|^T |r| elementwise (1e-12 relative to
      the sums of absolute terms, the scale of any summation error);
      theta = np.linalg.solve(lambda I + X^T X, X^T r): |theta - ref| <=
      1e-8 |ref| (2-norm); predict x^T theta and
      ucb = x^T theta + alpha sqrt(x^T A^-1 x) (the width by scipy's
      Cholesky solve) to 1e-8 of |x|.|theta| + alpha w.
      The 3-argument form with lambda 1 gives the 2-argument form's value;
      no rows (or only NULL rows) give NULL; linear_posterior_sample
      follows N(x^T theta, v^2 x^T A^-1 x) (Kolmogorov-Smirnov, 20,000
      draws, p > 0.001).
 2. Parallel = serial: 200,000 rows (d = 8), a plan with Partial Aggregate
    and launched workers; A, b, theta agree with the serial plan's to 1e-12
    relative (A_ij to 1e-12 sqrt(A_ii A_jj), b and theta in max-norm), and
    with NumPy (tolerances of 1.); likewise GROUP BY over 2,000 groups.
 3. Binary I/O: COPY ... (FORMAT binary) out has the documented layout
    (format 1, flags 0, dim, n, lambda, A column-major, b) holding exactly
    the text output's numbers; COPY back in gives the same text.  Hostile
    payloads (truncated, extra bytes, bad format/flags, dim 0, -1, 1001,
    2^31 - 1, length/dim mismatch, NaN/Inf in A, b or lambda, asymmetric A,
    negative diagonal, negative n or lambda) fail with 22P03 (structure) or
    22023 (values), never XX000, and the same backend answers SELECT 1
    afterwards.
 4. d = 1000: linear_posterior_agg over 1,200 random rows, stored (TOASTed:
    out of line, the heap stays small), read back: A to 1e-12 (as in 1.,
    float64 reference), theta to 1e-8 of np.linalg.solve; one
    linear_posterior_update more, theta again; binary round trip; d = 1001
    refused with 22023 (prior, aggregate, text input, bandit_create).
 5. Online and batch LinUCB, d = 5, K = 3, 2,000 decisions, ~90% rewarded:
    each arm's stored posterior = linear_posterior_agg over its logged
    (context, reward) rows = the NumPy closed form from the contexts and
    rewards this script sent, to 1e-10 relative (A, b as in 1.; theta in
    2-norm); n = the number of rewarded decisions.
 6. LinTS propensities, K = 5, 12, 20: at 20 random contexts the arms'
    bandit_policy_prob sum to 1 within 1e-9, lie within 5 standard errors
    of a NumPy Monte Carlo estimate from 10^6 draws of the scores
    N(mu_i, (v w_i)^2) (mu_i = x^T A_i^-1 b_i, w_i = sqrt(x^T A_i^-1 x) by
    NumPy from the arms' A, b), and equal scipy.integrate.quad of
    int f_i(t) prod_{j != i} F_j(t) dt to 1e-8; bandit_select logs exactly
    bandit_policy_prob of its arm at its context (batch, unchanged state).
 7. LinUCB propensities: epsilon 0: 1 for the NumPy argmax of
    mu + alpha w, 0 for the others; epsilon 0.2: 0.8 + 0.2/K and 0.2/K
    (1e-15); ties (fresh arms, zero context, two untouched arms) split
    evenly; a disabled arm gets 0 and the rest is redistributed.
 8. Selection frequencies: 20,000 bandit_select at one context in a fixed
    LinTS state: chi-square against the propensities, p > 0.001; the same
    bandit.seed gives the same arms again.

Seeds: numpy default_rng(seed) for all data and Monte Carlo draws,
bandit.seed for the policies' draws.  The database bandit_pytest_linear is
created and dropped here.
"""
import io
import math
import os
import re
import struct
import sys
import time

import numpy as np
import psycopg2
from scipy import integrate, linalg, special, stats

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from taplib import Db, Tap, connect, run_checks, scratch_database  # noqa: E402

DB = "bandit_pytest_linear"
MC_DRAWS = 1_000_000

tap = Tap()
check = tap.check


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


TEXT_RE = re.compile(r"^\(dim=(\d+), n=(-?\d+), lambda=([^,]+), A=\{(.*)\}, b=\{(.*)\}\)$")


def parse_text(text):
    """(dim, n, lambda, A, b) from the text form (A row by row)."""
    m = TEXT_RE.match(text)
    if m is None:
        raise ValueError(f"not a linear_posterior: {text[:200]}")
    d = int(m.group(1))
    rows = m.group(4)[1:-1].split("},{")
    A = np.array([[float(v) for v in row.split(",")] for row in rows])
    b = np.array([float(v) for v in m.group(5).split(",")])
    if A.shape != (d, d) or b.shape != (d,):
        raise ValueError(f"shape mismatch in {text[:200]}")
    return d, int(m.group(2)), float(m.group(3)), A, b


COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
COPY_HEADER = COPY_SIGNATURE + struct.pack(">ii", 0, 0)
COPY_TRAILER = struct.pack(">h", -1)
FLOAT8OID = 701


def encode_rows(X, r, g=None):
    """Binary COPY file of rows ([g int4,] x float8[], r float8), built with NumPy."""
    n, d = X.shape
    fields = [("nf", ">i2")]
    if g is not None:
        fields += [("lg", ">i4"), ("g", ">i4")]
    fields += [("lx", ">i4"), ("ndim", ">i4"), ("hasnull", ">i4"), ("oid", ">i4"), ("dlen", ">i4"),
               ("lbound", ">i4"), ("el", [("l", ">i4"), ("v", ">f8")], (d,)), ("lr", ">i4"), ("r", ">f8")]
    rec = np.zeros(n, dtype=fields)
    rec["nf"] = 2 if g is None else 3
    if g is not None:
        rec["lg"] = 4
        rec["g"] = g
    rec["lx"] = 20 + 12 * d
    rec["ndim"] = 1
    rec["oid"] = FLOAT8OID
    rec["dlen"] = d
    rec["lbound"] = 1
    el = rec["el"]
    el["l"] = 8
    el["v"] = X
    rec["lr"] = 8
    rec["r"] = r
    return COPY_HEADER + rec.tobytes() + COPY_TRAILER


def copy_in(db, table_cols, payload):
    db.cur.copy_expert(f"COPY {table_cols} FROM STDIN WITH (FORMAT binary)", io.BytesIO(payload))


def copy_out(db, query):
    """Rows of a binary COPY TO STDOUT, each a list of field bytes (None for NULL)."""
    buf = io.BytesIO()
    db.cur.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT binary)", buf)
    data = buf.getvalue()
    assert data[:11] == COPY_SIGNATURE, data[:11]
    (ext,) = struct.unpack(">I", data[15:19])
    pos = 19 + ext
    rows = []
    while True:
        (nf,) = struct.unpack(">h", data[pos:pos + 2])
        pos += 2
        if nf == -1:
            break
        row = []
        for _ in range(nf):
            (ln,) = struct.unpack(">i", data[pos:pos + 4])
            pos += 4
            if ln == -1:
                row.append(None)
            else:
                row.append(data[pos:pos + ln])
                pos += ln
        rows.append(row)
    return rows


def copy_file(fields_per_row):
    """A binary COPY file whose rows hold the given raw field bytes."""
    out = [COPY_HEADER]
    for row in fields_per_row:
        out.append(struct.pack(">h", len(row)))
        for f in row:
            out.append(struct.pack(">i", len(f)) + f)
    out.append(COPY_TRAILER)
    return b"".join(out)


def parse_binary(field):
    """(format, flags, dim, n, lambda, A, b) from a send() payload, as documented."""
    fmt, flags, d, n, lam = struct.unpack(">BBiqd", field[:22])
    A = np.frombuffer(field, dtype=">f8", count=d * d, offset=22).reshape((d, d), order="F")
    b = np.frombuffer(field, dtype=">f8", count=d, offset=22 + 8 * d * d)
    return fmt, flags, d, n, lam, A.astype(float), b.astype(float), len(field) == 22 + 8 * (d * d + d)


def reference(X, r, lam, exact=True):
    """A, b (long double unless exact=False), their error scales, and theta (np.linalg.solve)."""
    d = X.shape[1]
    if exact:
        Xl = X.astype(np.longdouble)
        A_ref = Xl.T @ Xl + lam * np.eye(d, dtype=np.longdouble)
        b_ref = Xl.T @ r.astype(np.longdouble)
    else:
        A_ref = X.T @ X + lam * np.eye(d)
        b_ref = X.T @ r
    A_scale = np.abs(X).T @ np.abs(X) + lam * np.eye(d)
    b_scale = np.abs(X).T @ np.abs(r)
    theta = np.linalg.solve(lam * np.eye(d) + X.T @ X, X.T @ r)
    return A_ref, b_ref, A_scale, b_scale, theta


def scaled_err(got, ref, scale):
    """max |got - ref| / scale (float; scale > 0)."""
    return float(np.max(np.abs(np.asarray(got, dtype=np.longdouble) - ref) / np.maximum(scale, 1e-300)))


def rel2(got, ref):
    ref = np.asarray(ref, dtype=float)
    return float(np.linalg.norm(np.asarray(got, dtype=float) - ref) / np.linalg.norm(ref))


def sym_scaled_err(A1, A2):
    """max |A1 - A2|_ij / sqrt(A2_ii A2_jj) (Cauchy-Schwarz scale of a Gram matrix)."""
    dg = np.sqrt(np.diag(A2))
    return float(np.max(np.abs(A1 - A2) / np.outer(dg, dg)))


def maxrel(v1, v2):
    return float(np.max(np.abs(np.asarray(v1) - np.asarray(v2))) / np.max(np.abs(np.asarray(v2))))


def arm_posteriors(db, exp):
    """{arm: (n, lambda, A, b)} from bandit.arm's text output, and arm order."""
    rows = db.q("SELECT a.name, a.linear::text FROM bandit.arm a JOIN bandit.experiment e "
                "ON e.id = a.experiment_id WHERE e.name = %s ORDER BY a.arm_id", (exp,))
    out = {}
    for name, text in rows:
        _, n, lam, A, b = parse_text(text)
        out[name] = (n, lam, A, b)
    return out, [r[0] for r in rows]


def scores(post, arms, x):
    """mu_i = x^T A_i^-1 b_i and w_i = sqrt(x^T A_i^-1 x), by NumPy/SciPy Cholesky."""
    mu, w = [], []
    for a in arms:
        _, _, A, b = post[a]
        c = linalg.cho_factor(A, lower=True)
        mu.append(float(x @ linalg.cho_solve(c, b)))
        w.append(math.sqrt(max(float(x @ linalg.cho_solve(c, x)), 0.0)))
    return np.array(mu), np.array(w)


def eid(db, exp):
    return db.one("SELECT id FROM bandit.experiment WHERE name = %s", (exp,))


# ---------------------------------------------------------------------------
# 1. linear_posterior_agg against the closed-form ridge solution
# ---------------------------------------------------------------------------

def section_fits(db, rng):
    db.q("CREATE TABLE prob (pid int, x float8[], r float8)")
    db.q("CREATE TABLE fits (pid int PRIMARY KEY, p linear_posterior)")
    problems = []
    pid = 0
    for d, n in [(1, 300), (3, 300), (8, 400), (32, 400), (32, 20)]:
        pid += 1
        scale = 10.0 ** rng.uniform(-1, 1, d)
        X = rng.standard_normal((n, d)) * scale
        beta = rng.standard_normal(d)
        r = X @ beta + rng.normal(0, 0.5, n)
        copy_in(db, "prob (pid, x, r)", encode_rows(X, r, g=np.full(n, pid)))
        # NULL context, NULL reward: skipped like any SQL aggregate skips NULLs
        db.q("INSERT INTO prob VALUES (%s, NULL, 1.5), (%s, %s, NULL)", (pid, pid, [1.0] * d))
        problems.append((pid, d, n, X, r))

    for pid, d, n, X, r in problems:
        x = rng.standard_normal(d)
        alpha = 1.7
        for form, lam, sql in [("2-arg", 1.0, "linear_posterior_agg(x, r)"),
                               ("3-arg", 0.1, "linear_posterior_agg(x, r, 0.1)")]:
            label = f"d={d}, n={n}, {form} lambda={lam:g}"
            text, theta, pred, ucb = db.q(
                f"SELECT p::text, linear_posterior_theta(p), linear_posterior_predict(p, %s), "
                f"linear_posterior_ucb(p, %s, %s) FROM (SELECT {sql} AS p FROM prob WHERE pid = %s) s",
                (list(x), list(x), alpha, pid))[0]
            dd, nn, ll, A, b = parse_text(text)
            A_ref, b_ref, A_scale, b_scale, th_ref = reference(X, r, lam)
            ea, eb = scaled_err(A, A_ref, A_scale), scaled_err(b, b_ref, b_scale)
            check(dd == d and nn == n and ll == lam and ea <= 1e-12 and eb <= 1e-12,
                  f"{label}: A = lambda I + X^T X, b = X^T r to 1e-12 (NULL rows skipped)",
                  f"dim={dd} n={nn} lambda={ll} A err {ea:.3g}, b err {eb:.3g} (scaled)")
            c = linalg.cho_factor(lam * np.eye(d) + X.T @ X, lower=True)
            w = math.sqrt(x @ linalg.cho_solve(c, x))
            mu = float(x @ th_ref)
            mscale = float(np.abs(x) @ np.abs(th_ref))
            et = rel2(theta, th_ref)
            ep = abs(pred - mu) / mscale
            eu = abs(ucb - (mu + alpha * w)) / (mscale + alpha * w)
            check(et <= 1e-8 and ep <= 1e-8 and eu <= 1e-8,
                  f"{label}: theta = np.linalg.solve, predict and ucb match NumPy/SciPy to 1e-8",
                  f"theta rel err {et:.3g}, predict {ep:.3g}, ucb {eu:.3g}")
            if form == "3-arg":
                db.q(f"INSERT INTO fits SELECT %s, {sql} FROM prob WHERE pid = %s", (pid, pid))
        same = db.one("SELECT linear_posterior_agg(x, r, 1)::text = linear_posterior_agg(x, r)::text "
                      "FROM prob WHERE pid = %s", (pid,))
        check(same, f"d={d}, n={n}: linear_posterior_agg(x, r, 1) = linear_posterior_agg(x, r)")

    empty = db.q("SELECT (SELECT linear_posterior_agg(x, r) FROM prob WHERE false), "
                 "(SELECT linear_posterior_agg(x, r, 0.5) FROM prob WHERE x IS NULL OR r IS NULL)")[0]
    check(empty == (None, None), "no rows, or only NULL rows: linear_posterior_agg is NULL", f"got {empty}")

    # linear_posterior_sample: a draw of N(x^T theta, v^2 x^T A^-1 x)
    pid, d, n, X, r = problems[1]
    x = rng.standard_normal(d)
    v = 0.7
    db.q("SET bandit.seed = 777")
    draws = np.array([row[0] for row in db.q(
        "SELECT linear_posterior_sample(p, %s, %s) FROM fits, generate_series(1, 20000) WHERE pid = %s",
        (list(x), v, pid))])
    _, _, _, _, th_ref = reference(X, r, 0.1)
    c = linalg.cho_factor(0.1 * np.eye(d) + X.T @ X, lower=True)
    sd = v * math.sqrt(x @ linalg.cho_solve(c, x))
    ks = stats.kstest(draws, "norm", args=(float(x @ th_ref), sd))
    check(ks.pvalue > 0.001, f"linear_posterior_sample (d={d}, v={v}): 20,000 draws fit "
          "N(x^T theta, v^2 x^T A^-1 x) (Kolmogorov-Smirnov p > 0.001)",
          f"p = {ks.pvalue:.3g}, sample mean {draws.mean():.6g} sd {draws.std():.6g}, "
          f"expected {x @ th_ref:.6g}, {sd:.6g}")
    return problems


# ---------------------------------------------------------------------------
# 2. Parallel aggregation = serial aggregation
# ---------------------------------------------------------------------------

PARALLEL = ["SET parallel_setup_cost = 0", "SET parallel_tuple_cost = 0",
            "SET min_parallel_table_scan_size = 0", "SET max_parallel_workers_per_gather = 2",
            "SET parallel_leader_participation = on"]


def section_parallel(db, rng):
    n, d, groups = 200_000, 8, 2000
    X = rng.standard_normal((n, d)) * np.linspace(0.5, 3.0, d) + np.linspace(-1, 1, d)
    r = X @ rng.standard_normal(d) + rng.normal(0, 1.0, n)
    g = rng.integers(0, groups, n).astype(np.int32)
    db.q("CREATE TABLE big (g int, x float8[], r float8)")
    copy_in(db, "big (g, x, r)", encode_rows(X, r, g=g))
    db.q("VACUUM ANALYZE big")

    total_sql = ("SELECT p::text, linear_posterior_theta(p) FROM "
                 "(SELECT linear_posterior_agg(x, r, 0.5) AS p FROM big) s")
    group_sql = ("SELECT g, p::text, linear_posterior_theta(p) FROM "
                 "(SELECT g, linear_posterior_agg(x, r) AS p FROM big GROUP BY g) s ORDER BY g")

    for s in PARALLEL:
        db.q(s)
    plan = "\n".join(row[0] for row in db.q("EXPLAIN (ANALYZE, COSTS OFF) " + total_sql))
    launched = [int(v) for v in re.findall(r"Workers Launched: (\d+)", plan)]
    check("Partial Aggregate" in plan and "Finalize Aggregate" in plan and launched and min(launched) >= 1,
          "200,000 rows: the plan has Partial/Finalize Aggregate and launches workers",
          plan.replace("\n", " | "))
    par_text, par_theta = db.q(total_sql)[0]
    gplan = "\n".join(row[0] for row in db.q("EXPLAIN (ANALYZE, COSTS OFF) " + group_sql))
    glaunched = [int(v) for v in re.findall(r"Workers Launched: (\d+)", gplan)]
    check(re.search(r"Partial (Hash|Group)?Aggregate", gplan) is not None and glaunched and min(glaunched) >= 1,
          "GROUP BY over 2,000 groups: the plan aggregates partially in workers",
          gplan.replace("\n", " | "))
    par_groups = db.q(group_sql)

    db.q("SET max_parallel_workers_per_gather = 0")
    splan = "\n".join(row[0] for row in db.q("EXPLAIN (COSTS OFF) " + total_sql))
    ser_text, ser_theta = db.q(total_sql)[0]
    ser_groups = db.q(group_sql)
    for s in ("parallel_setup_cost", "parallel_tuple_cost", "min_parallel_table_scan_size",
              "max_parallel_workers_per_gather"):
        db.q(f"RESET {s}")

    _, pn, _, pA, pb = parse_text(par_text)
    _, sn, _, sA, sb = parse_text(ser_text)
    ea, eb, et = sym_scaled_err(pA, sA), maxrel(pb, sb), maxrel(par_theta, ser_theta)
    check("Gather" not in splan and pn == sn == n and ea <= 1e-12 and eb <= 1e-12 and et <= 1e-12,
          "200,000 rows, lambda 0.5: parallel A, b, theta = serial to 1e-12 relative",
          f"n {pn}/{sn}; A err {ea:.3g}, b err {eb:.3g}, theta err {et:.3g}; serial plan: "
          + splan.replace("\n", " | "))
    A_ref, b_ref, A_scale, b_scale, th_ref = reference(X, r, 0.5)
    ea, eb, et = scaled_err(pA, A_ref, A_scale), scaled_err(pb, b_ref, b_scale), rel2(par_theta, th_ref)
    check(ea <= 1e-12 and eb <= 1e-12 and et <= 1e-8,
          "200,000 rows: the parallel result = NumPy (A, b to 1e-12, theta to 1e-8)",
          f"A err {ea:.3g}, b err {eb:.3g}, theta err {et:.3g}")

    worst = (0.0, 0.0, 0.0, None)
    same_groups = [row[0] for row in par_groups] == [row[0] for row in ser_groups] == list(range(groups))
    for (gp, ptext, pth), (_, stext, sth) in zip(par_groups, ser_groups):
        _, pn, _, pA, pb = parse_text(ptext)
        _, sn, _, sA, sb = parse_text(stext)
        errs = (sym_scaled_err(pA, sA), maxrel(pb, sb), maxrel(pth, sth))
        if pn != sn:
            errs = (math.inf,) * 3
        if max(errs) > max(worst[:3]):
            worst = errs + (gp,)
    check(same_groups and max(worst[:3]) <= 1e-12,
          "GROUP BY, 2,000 groups: every group's parallel A, b, theta = serial to 1e-12 relative",
          f"groups equal: {same_groups}; worst group {worst[3]}: A {worst[0]:.3g}, b {worst[1]:.3g}, "
          f"theta {worst[2]:.3g}")
    worst = (0.0, None)
    order = np.argsort(g, kind="stable")
    bounds = np.searchsorted(g[order], np.arange(groups + 1))
    for gp, ptext, pth in par_groups:
        idx = order[bounds[gp]:bounds[gp + 1]]
        A_ref, b_ref, A_scale, b_scale, th_ref = reference(X[idx], r[idx], 1.0)
        _, pn, _, pA, pb = parse_text(ptext)
        e = max(scaled_err(pA, A_ref, A_scale), scaled_err(pb, b_ref, b_scale), rel2(pth, th_ref) * 1e-4)
        if pn != len(idx):
            e = math.inf
        if e > worst[0]:
            worst = (e, gp)
    check(worst[0] <= 1e-12, "GROUP BY: every group = NumPy (A, b to 1e-12, theta to 1e-8)",
          f"worst group {worst[1]}: scaled error {worst[0]:.3g} (theta's divided by 1e4)")


# ---------------------------------------------------------------------------
# 3. Binary I/O
# ---------------------------------------------------------------------------

def lp_payload(fmt=1, flags=0, dim=2, n=3, lam=1.0, A=None, b=None, cut=0, extra=b""):
    A = np.array([[2.0, 0.5], [0.5, 3.0]]) if A is None else np.asarray(A, dtype=float)
    b = np.array([1.0, 2.0]) if b is None else np.asarray(b, dtype=float)
    body = (struct.pack(">BBiqd", fmt, flags, dim, n, lam)
            + A.reshape(-1, order="F").astype(">f8").tobytes() + b.astype(">f8").tobytes() + extra)
    return body[:len(body) - cut] if cut else body


def section_binary(db):
    db.q("INSERT INTO fits VALUES (100, linear_posterior(3, 0)), (101, linear_posterior(1)), "
         "(102, linear_posterior_update(linear_posterior(2, 0), '{1e-300, 3}', -1e300))")
    rows = copy_out(db, "SELECT pid, p FROM fits ORDER BY pid")
    texts = dict(db.q("SELECT pid, p::text FROM fits"))
    bad = []
    for pid_b, field in rows:
        (pid,) = struct.unpack(">i", pid_b)
        fmt, flags, d, n, lam, A, b, exact_len = parse_binary(field)
        td, tn, tl, tA, tb = parse_text(texts[pid])
        if not (fmt == 1 and flags == 0 and exact_len and (d, n, lam) == (td, tn, tl)
                and np.array_equal(A, tA) and np.array_equal(b, tb)):
            bad.append(pid)
    check(len(rows) == len(texts) and not bad,
          f"binary send of {len(rows)} values: format 1, flags 0, dim, n, lambda, A column-major, b "
          "= the text output's numbers exactly", f"mismatched pids: {bad}")

    db.q("CREATE TABLE fits_copy (pid int, p linear_posterior)")
    copy_in(db, "fits_copy (pid, p)", copy_file(rows))
    diff = db.q("SELECT f.pid FROM fits f FULL JOIN fits_copy c USING (pid) "
                "WHERE f.p::text IS DISTINCT FROM c.p::text")
    same_theta = db.one("SELECT bool_and(linear_posterior_theta(f.p) = linear_posterior_theta(c.p)) "
                        "FROM fits f JOIN fits_copy c USING (pid) WHERE pid < 100")
    check(not diff and same_theta,
          "binary COPY out and back in: every value's text is unchanged (and theta, recomputed on recv)",
          f"differing pids: {diff}, same theta: {same_theta}")

    # hostile payloads
    db.q("CREATE TABLE hostile (p linear_posterior)")
    pid0 = db.one("SELECT pg_backend_pid()")
    copy_in(db, "hostile (p)", copy_file([[lp_payload()]]))
    base = db.one("SELECT p::text FROM hostile")
    check(base == "(dim=2, n=3, lambda=1, A={{2,0.5},{0.5,3}}, b={1,2})",
          "a well-formed binary payload is accepted (control for the hostile ones)", f"got {base}")
    nan, inf = float("nan"), float("inf")
    S, V = "22P03", "22023"
    cases = [
        ("empty field", b"", S),
        ("1 byte", lp_payload()[:1], S),
        ("header only (format, flags, dim)", lp_payload()[:6], S),
        ("header without lambda", lp_payload()[:14], S),
        ("truncated by 1 byte", lp_payload(cut=1), S),
        ("b missing", lp_payload(cut=16), S),
        ("1 extra byte", lp_payload(extra=b"\x00"), S),
        ("8 extra bytes", lp_payload(extra=b"\x00" * 8), S),
        ("format byte 0", lp_payload(fmt=0), S),
        ("format byte 2", lp_payload(fmt=2), S),
        ("format byte 255", lp_payload(fmt=255), S),
        ("flags 1 (the in-memory factored flag)", lp_payload(flags=1), S),
        ("flags 0x80", lp_payload(flags=0x80), S),
        ("dim 0", lp_payload(dim=0, A=np.zeros((0, 0)), b=[]), V),
        ("dim -1", lp_payload(dim=-1), V),
        ("dim 1001 (no data)", lp_payload(dim=1001), V),
        ("dim 2^31 - 1", lp_payload(dim=2**31 - 1), V),
        ("dim -2^31", lp_payload(dim=-2**31), V),
        ("dim 3, data for dim 2", lp_payload(dim=3), S),
        ("dim 1, data for dim 2", lp_payload(dim=1), S),
        ("dim 1000, data for dim 2", lp_payload(dim=1000), S),
        ("n = -1", lp_payload(n=-1), V),
        ("n = -2^63", lp_payload(n=-2**63), V),
        ("lambda = -1", lp_payload(lam=-1.0), V),
        ("lambda = NaN", lp_payload(lam=nan), V),
        ("lambda = Infinity", lp_payload(lam=inf), V),
        ("lambda = -Infinity", lp_payload(lam=-inf), V),
        ("NaN off the diagonal of A (both halves)", lp_payload(A=[[2, nan], [nan, 3]]), V),
        ("NaN on the diagonal of A", lp_payload(A=[[nan, 0.5], [0.5, 3]]), V),
        ("Infinity on the diagonal of A", lp_payload(A=[[inf, 0.5], [0.5, 3]]), V),
        ("-Infinity off the diagonal of A", lp_payload(A=[[2, -inf], [-inf, 3]]), V),
        ("NaN in b", lp_payload(b=[1, nan]), V),
        ("Infinity in b", lp_payload(b=[inf, 2]), V),
        ("-Infinity in b", lp_payload(b=[1, -inf]), V),
        ("asymmetric A", lp_payload(A=[[2, 0.5], [0.25, 3]]), V),
        ("asymmetric A by one ulp", lp_payload(A=[[2, 0.5], [np.nextafter(0.5, 1), 3]]), V),
        ("negative diagonal of A", lp_payload(A=[[-2, 0.5], [0.5, 3]]), V),
    ]
    for name, payload, want in cases:
        try:
            copy_in(db, "hostile (p)", copy_file([[payload]]))
            got = None
        except psycopg2.Error as exc:
            got = (exc.pgcode, (exc.pgerror or str(exc)).strip().splitlines()[0])
        alive, detail = backend_alive(db, pid0)
        check(got is not None and got[0] == want and alive,
              f"binary recv, {name}: SQLSTATE {want}, backend alive",
              f"got {got}; {detail}")
        if not alive:
            db = reconnect(db)
            pid0 = db.one("SELECT pg_backend_pid()")
    # huge but finite: valid per the invariants; accepted or refused cleanly, never an internal error
    for name, payload in [("A = 1e308 everywhere", lp_payload(A=[[1e308, 1e308], [1e308, 1e308]], b=[1e308, -1e308])),
                          ("A = diag(1e308), b = 1e308", lp_payload(A=[[1e308, 0], [0, 1e308]], b=[1e308, 1e308])),
                          ("A = diag(5e-324)", lp_payload(lam=0.0, A=[[5e-324, 0], [0, 5e-324]], b=[5e-324, 0]))]:
        try:
            copy_in(db, "hostile (p)", copy_file([[payload]]))
            db.q("SELECT p::text, linear_posterior_theta(p) FROM hostile")
            got = None
        except psycopg2.Error as exc:
            got = (exc.pgcode, (exc.pgerror or str(exc)).strip().splitlines()[0])
        alive, detail = backend_alive(db, pid0)
        check((got is None or (got[0].startswith("22") and got[0] != "XX000")) and alive,
              f"binary recv, {name} (finite): accepted, or refused with a 22xxx SQLSTATE; backend alive",
              f"got {got}; {detail}")
        if not alive:
            db = reconnect(db)
            pid0 = db.one("SELECT pg_backend_pid()")
        db.q("DELETE FROM hostile WHERE p::text <> %s", (base,))
    return db


def backend_alive(db, pid0):
    try:
        pid, one = db.q("SELECT pg_backend_pid(), 1")[0]
        return pid == pid0 and one == 1, f"SELECT 1 from backend {pid} (was {pid0})"
    except psycopg2.Error as exc:
        return False, f"SELECT 1 failed: {type(exc).__name__}: {exc}"


def reconnect(db):
    try:
        db.conn.close()
    except psycopg2.Error:
        pass
    for _ in range(50):
        try:
            return Db(connect(DB))
        except psycopg2.Error:
            time.sleep(0.2)
    return Db(connect(DB))


# ---------------------------------------------------------------------------
# 4. d = 1000
# ---------------------------------------------------------------------------

def section_large(db, rng):
    d, n = 1000, 1200
    X = rng.standard_normal((n, d)) / math.sqrt(d)
    beta = rng.standard_normal(d)
    r = X @ beta + rng.normal(0, 0.1, n)
    db.q("CREATE TABLE rows1000 (x float8[], r float8)")
    copy_in(db, "rows1000 (x, r)", encode_rows(X, r))
    db.q("CREATE TABLE big1000 (id int, p linear_posterior)")
    db.q("INSERT INTO big1000 SELECT 1, linear_posterior_agg(x, r) FROM rows1000")
    raw = 32 + 8 * (2 * d * d + 2 * d)  # header (varlena + fixed fields) + A, b, L, theta
    colsize, heap, toast = db.q(
        "SELECT pg_column_size(p), pg_relation_size('big1000'), pg_relation_size(c.reltoastrelid) "
        "FROM big1000, pg_class c WHERE c.oid = 'big1000'::regclass")[0]
    check(colsize >= 16 * d * d and heap <= 65536 and toast >= min(colsize, raw) * 0.9,
          "d = 1000: the stored value (about 16 MB) is TOASTed: out of line, the heap stays small",
          f"pg_column_size {colsize} (raw about {raw}), heap {heap} bytes, TOAST {toast} bytes")

    theta = np.array(db.one("SELECT linear_posterior_theta(p) FROM big1000"))
    A_ref, b_ref, A_scale, b_scale, th_ref = reference(X, r, 1.0, exact=False)
    et = rel2(theta, th_ref)
    [[field]] = copy_out(db, "SELECT p FROM big1000")
    fmt, flags, dd, nn, lam, A, b, exact_len = parse_binary(field)
    ea, eb = scaled_err(A, A_ref, A_scale), scaled_err(b, b_ref, b_scale)
    check(et <= 1e-8 and dd == d and nn == n and exact_len and ea <= 1e-12 and eb <= 1e-12,
          "d = 1000, 1,200 rows: read back from the table, theta = np.linalg.solve to 1e-8, A and b to 1e-12",
          f"theta rel err {et:.3g}, A err {ea:.3g}, b err {eb:.3g}, dim {dd}, n {nn}")

    x = rng.standard_normal(d) / math.sqrt(d)
    rx = 0.25
    theta2 = np.array(db.one("SELECT linear_posterior_theta(linear_posterior_update(p, %s, %s)) FROM big1000",
                             (list(x), rx)))
    X2, r2 = np.vstack([X, x]), np.append(r, rx)
    th2_ref = np.linalg.solve(np.eye(d) + X2.T @ X2, X2.T @ r2)
    et2 = rel2(theta2, th2_ref)
    check(et2 <= 1e-8, "d = 1000: linear_posterior_update with one more row, theta = np.linalg.solve to 1e-8",
          f"theta rel err {et2:.3g}")

    db.q("CREATE TABLE big1000_copy (id int, p linear_posterior)")
    copy_in(db, "big1000_copy (id, p)", copy_file([[struct.pack(">i", 1), field]]))
    same = db.one("SELECT md5(a.p::text) = md5(b.p::text) FROM big1000 a, big1000_copy b")
    check(same, "d = 1000: binary COPY round trip keeps the value (same text)")

    errs = [db.error("SELECT linear_posterior(1001)"),
            db.error("SELECT linear_posterior_agg(x, 1) FROM (SELECT array_fill(0.5::float8, ARRAY[1001]) x) s"),
            db.error("SELECT ('(dim=1001, n=0, lambda=1, A={{1}}, b={0})')::linear_posterior"),
            db.error("SELECT bandit_create('too_wide', ARRAY['a'], 'linucb', '{\"context_dim\": 1001}')")]
    check(all(e is not None and e[0] == "22023" for e in errs),
          "d = 1001 is refused with 22023 (prior, aggregate, text input, bandit_create)", f"got {errs}")
    db.q("DROP TABLE rows1000, big1000_copy")


# ---------------------------------------------------------------------------
# 5. Online and batch updates = the aggregate over the log = NumPy
# ---------------------------------------------------------------------------

def run_rounds(db, rng, exp, arms, betas, n, d, skip=0.1, refresh_every=None):
    """n decisions at random contexts, ~90% rewarded with x . beta_arm + N(0, 0.5^2).

    Returns {arm: (contexts, rewards)} of the rewarded decisions, as sent."""
    sent = {a: ([], []) for a in arms}
    for i in range(n):
        x = np.round(rng.standard_normal(d), 6)
        x[0] = 1.0
        decision, arm, _ = db.q("SELECT * FROM bandit_select(%s, %s)", (exp, list(x)))[0]
        if rng.random() >= skip:
            reward = float(x @ betas[arm] + rng.normal(0, 0.5))
            db.q("SELECT bandit_reward(%s, %s)", (decision, reward))
            sent[arm][0].append(x)
            sent[arm][1].append(reward)
        if refresh_every and (i + 1) % refresh_every == 0:
            db.q("SELECT bandit_refresh(%s)", (exp,))
    return sent


def compare_to_log(db, exp, lam, sent, label):
    post, arms = arm_posteriors(db, exp)
    agg = {a: parse_text(t) for a, t in db.q(
        "SELECT a.name, linear_posterior_agg(d.context, r.reward, %s)::text "
        "FROM bandit.decision d JOIN bandit.reward r ON r.decision_id = d.id "
        "JOIN bandit.arm a ON a.experiment_id = d.experiment_id AND a.arm_id = d.arm_id "
        "WHERE d.experiment_id = %s GROUP BY a.name", (lam, eid(db, exp)))}
    worst_agg, worst_np, counts = 0.0, 0.0, []
    for a in arms:
        n, plam, A, b = post[a]
        X, r = np.array(sent[a][0]), np.array(sent[a][1])
        A_ref, b_ref, A_scale, b_scale, th_ref = reference(X, r, lam)
        _, an, alam, aA, ab = agg[a]
        worst_agg = max(worst_agg, scaled_err(A, aA.astype(np.longdouble), A_scale),
                        scaled_err(b, ab.astype(np.longdouble), b_scale))
        worst_np = max(worst_np, scaled_err(A, A_ref, A_scale), scaled_err(b, b_ref, b_scale))
        counts.append((a, n, an, len(r), plam))
    thetas = dict(db.q(
        "SELECT a.name, linear_posterior_theta(a.linear) FROM bandit.arm a WHERE a.experiment_id = %s",
        (eid(db, exp),)))
    agg_thetas = dict(db.q(
        "SELECT a.name, linear_posterior_theta(linear_posterior_agg(d.context, r.reward, %s)) "
        "FROM bandit.decision d JOIN bandit.reward r ON r.decision_id = d.id "
        "JOIN bandit.arm a ON a.experiment_id = d.experiment_id AND a.arm_id = d.arm_id "
        "WHERE d.experiment_id = %s GROUP BY a.name", (lam, eid(db, exp))))
    th_agg = max(rel2(thetas[a], agg_thetas[a]) for a in arms)
    th_np = max(rel2(thetas[a], reference(np.array(sent[a][0]), np.array(sent[a][1]), lam)[4]) for a in arms)
    ok_counts = all(n == an == m and plam == lam for _, n, an, m, plam in counts) and all(m > 50 for _, _, _, m, _ in counts)
    check(ok_counts and worst_agg <= 1e-10 and th_agg <= 1e-10,
          f"{label}: every arm's stored posterior = linear_posterior_agg over its logged rows (1e-10 relative)",
          f"(arm, n, agg n, rewards sent, lambda): {counts}; A/b err {worst_agg:.3g}, theta err {th_agg:.3g}")
    check(ok_counts and worst_np <= 1e-10 and th_np <= 1e-10,
          f"{label}: every arm's stored posterior = the NumPy closed form of the rewards sent (1e-10 relative)",
          f"A/b err {worst_np:.3g}, theta err {th_np:.3g}")


def section_updates(db, rng):
    d, arms = 5, ["a", "b", "c"]
    betas = {a: rng.normal(0, 1, d) for a in arms}
    for exp, update in [("lin_online", "online"), ("lin_batch", "batch")]:
        db.q("SELECT bandit_create(%s, %s, 'linucb', %s)",
             (exp, arms, f'{{"context_dim": {d}, "lambda": 0.5, "alpha": 1, "epsilon": 0.3, '
                         f'"reward_type": "gaussian", "update": "{update}"}}'))
        sent = run_rounds(db, rng, exp, arms, betas, 2000, d,
                          refresh_every=700 if update == "batch" else None)
        if update == "batch":
            pending = db.one("SELECT count(*) FROM bandit.pending_reward WHERE experiment_id = %s",
                             (eid(db, exp),))
            folded = db.one("SELECT bandit_refresh(%s)", (exp,))
            check(pending == folded > 0, f"{update}: bandit_refresh folds the pending rewards",
                  f"pending {pending}, folded {folded}")
        logged = db.q("SELECT d.context FROM bandit.decision d JOIN bandit.reward r ON r.decision_id = d.id "
                      "WHERE d.experiment_id = %s ORDER BY d.id", (eid(db, exp),))
        check(len(logged) == sum(len(v[1]) for v in sent.values()),
              f"{update}: one logged (context, reward) per reward sent")
        compare_to_log(db, exp, 0.5, sent, f"LinUCB {update}, d = 5, K = 3, 2,000 decisions")


# ---------------------------------------------------------------------------
# 6. LinTS propensities
# ---------------------------------------------------------------------------

def lints_quad(mu, sd):
    """P_i = int phi(z) prod_{j != i} Phi((mu_i + sd_i z - mu_j) / sd_j) dz by scipy.integrate.quad,
    break points where another arm's factor switches from 0 to 1."""
    k = len(mu)
    out = np.zeros(k)
    for i in range(k):
        others = [j for j in range(k) if j != i]
        mj, sj = mu[others], sd[others]

        def f(z, i=i):
            t = mu[i] + sd[i] * z
            return math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi) * float(np.prod(special.ndtr((t - mj) / sj)))

        lo, hi = -12.0, 12.0
        pts = sorted({float(p) for p in np.concatenate([(mj - mu[i]) / sd[i], [-3, -1, 0, 1, 3]]) if lo < p < hi})
        val, _ = integrate.quad(f, lo, hi, points=pts, limit=500, epsabs=1e-13, epsrel=1e-12)
        out[i] = val
    return out


def train(db, rng, exp, arms, d, n, betas, share):
    """n decisions at random contexts, rewarded (share[arm] of them) with x.beta + N(0,1); refresh."""
    ctx = rng.standard_normal((n, d))
    ids, rewards = [], []
    for i in range(n):
        x = ctx[i]
        decision, arm, _ = db.q("SELECT * FROM bandit_select(%s, %s)", (exp, list(x)))[0]
        if rng.random() < share[arm]:
            ids.append(decision)
            rewards.append(float(x @ betas[arm] + rng.normal(0, 1.0)))
    db.q("SELECT bandit_reward(d, r) FROM unnest(%s::bigint[], %s::float8[]) t(d, r)", (ids, rewards))
    return db.one("SELECT bandit_refresh(%s)", (exp,))


def section_lints(db, rng):
    d, v = 4, 0.8
    for k in (5, 12, 20):
        exp = f"lints{k}"
        arms = [f"arm{i:02d}" for i in range(k)]
        db.q("SELECT bandit_create(%s, %s, 'lints', %s)",
             (exp, arms, f'{{"context_dim": {d}, "v": {v}, "reward_type": "gaussian", "update": "batch"}}'))
        betas = {a: rng.normal(0, 0.3, d) for a in arms}
        share = {a: float(s) for a, s in zip(arms, rng.uniform(0.1, 1.0, k))}
        train(db, rng, exp, arms, d, 12 * k, betas, share)
        post, order = arm_posteriors(db, exp)
        ctxs = rng.standard_normal((20, d))
        probs = np.array([[db.one("SELECT bandit_policy_prob(%s, %s, %s)", (exp, a, list(x))) for a in order]
                          for x in ctxs])
        sums = np.abs(probs.sum(axis=1) - 1)
        check(float(sums.max()) <= 1e-9, f"LinTS, K = {k}: at 20 contexts the propensities sum to 1 within 1e-9",
              f"max |sum - 1| = {sums.max():.3g}")

        # Monte Carlo: 1e6 standard normal vectors, shared across the 20 contexts
        z = rng.standard_normal((MC_DRAWS, k), dtype=np.float32)
        worst_mc = (0.0, None)
        worst_q = (0.0, None)
        spread = 0
        for c, x in enumerate(ctxs):
            mu, w = scores(post, order, x)
            sd = v * w
            counts = np.bincount(np.argmax(mu.astype(np.float32) + sd.astype(np.float32) * z, axis=1),
                                 minlength=k)
            p_mc = counts / MC_DRAWS
            p = probs[c]
            q = np.maximum(p, p_mc)
            ratio = np.abs(p - p_mc) / (5 * np.sqrt(q * (1 - q) / MC_DRAWS) + 1e-12)
            if ratio.max() > worst_mc[0]:
                worst_mc = (float(ratio.max()), (c, int(ratio.argmax()), p[ratio.argmax()], p_mc[ratio.argmax()]))
            pq = lints_quad(mu, sd)
            e = float(np.max(np.abs(p - pq)))
            if e > worst_q[0]:
                worst_q = (e, (c, int(np.argmax(np.abs(p - pq)))))
            spread += int(np.sum(p > 0.01) >= 2)
        check(worst_mc[0] <= 1.0,
              f"LinTS, K = {k}: every propensity at 20 contexts within 5 standard errors of 1e6 Monte Carlo draws",
              f"worst (error / tolerance) {worst_mc[0]:.3g} at (context, arm, p, p_mc) {worst_mc[1]}")
        check(worst_q[0] <= 1e-8 and spread >= 10,
              f"LinTS, K = {k}: every propensity = scipy quad of f_i prod F_j to 1e-8 "
              "(at least 10 contexts with two arms above 1%)",
              f"max error {worst_q[0]:.3g} at (context, arm) {worst_q[1]}; contexts with contention {spread}")

        # bandit_select logs bandit_policy_prob of its arm at its context (state unchanged: batch)
        sel_ctx = rng.standard_normal((60, d))
        mism = []
        for x in sel_ctx:
            decision, arm, prop = db.q("SELECT * FROM bandit_select(%s, %s)", (exp, list(x)))[0]
            logged = db.one("SELECT propensity FROM bandit.decision WHERE id = %s", (decision,))
            pp = db.one("SELECT bandit_policy_prob(%s, %s, %s)", (exp, arm, list(x)))
            if not (prop == logged == pp):
                mism.append((decision, arm, prop, logged, pp))
        check(not mism, f"LinTS, K = {k}: 60 bandit_select log exactly bandit_policy_prob of the arm at the context",
              f"mismatches (id, arm, returned, logged, policy_prob): {mism[:3]}")


# ---------------------------------------------------------------------------
# 7. LinUCB propensities
# ---------------------------------------------------------------------------

def ucb_probs(db, exp, arms, x):
    return np.array([db.one("SELECT bandit_policy_prob(%s, %s, %s)", (exp, a, list(x))) for a in arms])


def ucb_train(db, rng, exp, d, n, reward_of):
    """n decisions at random contexts; decision on arm a at x rewarded with reward_of(a, x)
    (None: not rewarded); then one refresh."""
    ids, rewards = [], []
    for _ in range(n):
        x = rng.standard_normal(d)
        decision, arm, _ = db.q("SELECT * FROM bandit_select(%s, %s)", (exp, list(x)))[0]
        r = reward_of(arm, x)
        if r is not None:
            ids.append(decision)
            rewards.append(r)
    db.q("SELECT bandit_reward(d, r) FROM unnest(%s::bigint[], %s::float8[]) t(d, r)", (ids, rewards))
    db.q("SELECT bandit_refresh(%s)", (exp,))


def section_linucb(db, rng):
    d, k, alpha = 3, 4, 1.5
    arms = ["a", "b", "c", "d"]
    betas = {a: rng.normal(0, 1, d) for a in arms}
    for exp, eps in [("ucb0", 0.0), ("ucb2", 0.2)]:
        db.q("SELECT bandit_create(%s, %s, 'linucb', %s)",
             (exp, arms, f'{{"context_dim": {d}, "alpha": {alpha}, "epsilon": {eps}, '
                         f'"reward_type": "gaussian", "update": "batch"}}'))
        # fresh arms: every bound is the same, the probability splits evenly
        x = rng.standard_normal(d)
        p = ucb_probs(db, exp, arms, x)
        check(np.all(np.abs(p - 1 / k) <= 1e-15), f"LinUCB epsilon {eps}: fresh arms tie, each gets 1/{k}",
              f"got {p}")
        # train: 300 decisions at random contexts, all rewarded, one refresh
        ucb_train(db, rng, exp, d, 300, lambda arm, x: float(x @ betas[arm] + rng.normal(0, 0.5)))
        post, order = arm_posteriors(db, exp)

        worst, tight, picked_ok = 0.0, 0, True
        for _ in range(20):
            x = rng.standard_normal(d)
            mu, w = scores(post, order, x)
            bound = mu + alpha * w
            best = int(np.argmax(bound))
            gap = np.sort(bound)[-1] - np.sort(bound)[-2]
            if gap < 1e-9 * max(1.0, abs(bound[best])):
                tight += 1
                continue
            want = np.where(np.arange(k) == best, (1 - eps) + eps / k, eps / k)
            p = ucb_probs(db, exp, order, x)
            worst = max(worst, float(np.max(np.abs(p - want))))
            decision, arm, prop = db.q("SELECT * FROM bandit_select(%s, %s)", (exp, list(x)))[0]
            if eps == 0.0 and (arm != order[best] or prop != 1.0):
                picked_ok = False
        what = "1 for the NumPy argmax of mu + alpha w, 0 for the others" if eps == 0 else \
            f"0.8 + 0.2/{k} for the NumPy argmax of mu + alpha w, 0.2/{k} for the others"
        check(worst <= 1e-15 and tight <= 2 and picked_ok,
              f"LinUCB epsilon {eps}, trained: at 20 contexts the propensity is {what}"
              + ("; bandit_select picks the argmax with propensity 1" if eps == 0 else ""),
              f"max error {worst:.3g}, contexts skipped for a gap below 1e-9: {tight}, select ok: {picked_ok}")

        # zero context: every mean and width is 0, a full tie
        p = ucb_probs(db, exp, order, np.zeros(d))
        check(np.all(np.abs(p - 1 / k) <= 1e-15), f"LinUCB epsilon {eps}: at the zero context all arms tie (1/{k})",
              f"got {p}")

        # two untouched arms (a, b at the prior) tie above the trained ones: another
        # experiment where only the decisions on c and d are rewarded, with low rewards
        tie = exp + "_tie"
        db.q("SELECT bandit_create(%s, %s, 'linucb', %s)",
             (tie, arms, f'{{"context_dim": {d}, "alpha": {alpha}, "epsilon": {eps}, '
                         f'"reward_type": "gaussian", "update": "batch"}}'))
        ucb_train(db, rng, tie, d, 100, lambda arm, x: None if arm in "ab" else float(rng.normal(-5, 0.5)))
        post, order = arm_posteriors(db, tie)
        found = None
        for _ in range(200):
            x = rng.standard_normal(d)
            mu, w = scores(post, order, x)
            bound = mu + alpha * w
            ia, ib = order.index("a"), order.index("b")
            others = [i for i in range(k) if i not in (ia, ib)]
            if bound[ia] == bound[ib] and bound[ia] > max(bound[others]) + 1e-6 and post["a"][0] == post["b"][0] == 0:
                found = x
                break
        if found is None:
            check(False, f"LinUCB epsilon {eps}: two untouched arms tie and share the top", "no such context found")
        else:
            p = ucb_probs(db, tie, order, found)
            want = np.array([(1 - eps) / 2 + eps / k if a in "ab" else eps / k for a in order])
            check(np.all(np.abs(p - want) <= 1e-15),
                  f"LinUCB epsilon {eps}: two untouched arms tie at the top and split (1 - epsilon) evenly",
                  f"got {p}, want {want}")

        # a disabled arm gets 0; the others are renormalised over the enabled ones
        post, order = arm_posteriors(db, exp)
        x = rng.standard_normal(d)
        mu, w = scores(post, order, x)
        bound = mu + alpha * w
        top = int(np.argmax(bound))
        db.q("SELECT bandit_set_arm_enabled(%s, %s, false)", (exp, order[top]))
        p = ucb_probs(db, exp, order, x)
        rest = [i for i in range(k) if i != top]
        best2 = rest[int(np.argmax(bound[rest]))]
        want = np.array([0.0 if i == top else ((1 - eps) + eps / (k - 1) if i == best2 else eps / (k - 1))
                         for i in range(k)])
        sel = db.q("SELECT (s).arm FROM (SELECT bandit_select(%s, %s) AS s FROM generate_series(1, 100)) q",
                   (exp, list(x)))
        check(np.all(np.abs(p - want) <= 1e-15) and all(a != order[top] for (a,) in sel),
              f"LinUCB epsilon {eps}: the disabled best arm gets 0, the next best (NumPy) takes its place",
              f"got {p}, want {want}; selected the disabled arm {sum(a == order[top] for (a,) in sel)} times")
        db.q("SELECT bandit_set_arm_enabled(%s, %s, true)", (exp, order[top]))


# ---------------------------------------------------------------------------
# 8. Selection frequencies
# ---------------------------------------------------------------------------

def section_frequencies(db, rng):
    d, arms = 3, ["a", "b", "c", "d"]
    exp = "freq"
    db.q("SELECT bandit_create(%s, %s, 'lints', %s)",
         (exp, arms, f'{{"context_dim": {d}, "v": 1, "reward_type": "gaussian", "update": "batch"}}'))
    betas = {a: np.array([0.2 * i, -0.1, 0.05 * i]) for i, a in enumerate(arms)}
    train(db, rng, exp, arms, d, 40, betas, {a: 1.0 for a in arms})
    x = [0.6, -0.4, 1.1]
    p = np.array([db.one("SELECT bandit_policy_prob(%s, %s, %s)", (exp, a, x)) for a in arms])
    n = 20000
    db.q("SET bandit.seed = 31337")
    rows = db.q("SELECT (s).arm, (s).propensity FROM (SELECT bandit_select(%s, %s) AS s "
                "FROM generate_series(1, %s)) q", (exp, x, n))
    observed = np.array([sum(1 for a, _ in rows if a == arm) for arm in arms])
    expected = p * n
    stat, pvalue = stats.chisquare(observed, expected)
    props_ok = all(prop == p[arms.index(a)] for a, prop in rows)
    check(len(rows) == n and expected.min() >= 5 and pvalue > 0.001 and props_ok,
          f"LinTS, 4 arms, one context: arm counts of {n} bandit_select fit the propensities "
          "(chi-square p > 0.001); each logs its arm's propensity",
          f"observed {observed.tolist()}, expected {np.round(expected, 1).tolist()}, p = {pvalue:.3g}, "
          f"propensities logged exactly: {props_ok}")
    db.q("SET bandit.seed = 31337")
    again = db.q("SELECT (s).arm FROM (SELECT bandit_select(%s, %s) AS s FROM generate_series(1, 200)) q",
                 (exp, x))
    check([a for (a,) in again] == [a for a, _ in rows[:200]],
          "the same bandit.seed gives the same LinTS arms again")


def main():
    with scratch_database(DB) as conn:
        db = Db(conn)
        db.q("SET bandit.seed = 2718")
        rng = np.random.default_rng(20240611)
        section_fits(db, rng)
        section_parallel(db, rng)
        db = section_binary(db)
        section_large(db, rng)
        section_updates(db, rng)
        section_lints(db, rng)
        section_linucb(db, rng)
        section_frequencies(db, rng)
        if db.conn is not conn:
            db.conn.close()
    return tap.report()


if __name__ == "__main__":
    run_checks(main, "linear_posterior.py")
