#!/usr/bin/python3
"""Off-policy estimators (ope_ips, ope_snips, ope_clipped_ips, ope_dm, ope_dr,
ope_sndr, ope_switch_dr) against NumPy (TAP).

Every expected value is computed here, from the data this script generated,
with the published formulas written out below; none is copied from the
extension.  With w = target_prob / logging_prob (float64, as the rows hold
them) and r, q, v the reward, q_logged and v_target:

  IPS (Horvitz & Thompson)         mean(w r)
  SNIPS (Swaminathan & Joachims)   sum(w r) / sum(w)
  clipped IPS                      mean(min(w, cap) r)
  DM (Dudik, Langford & Li 2011)   mean(v)
  DR (Dudik, Langford & Li 2011)   mean(v + w (r - q))
  SNDR                             mean(v) + sum(w (r - q)) / sum(w)
  Switch-DR (Wang, Agarwal & Dudik 2017, DR form as in the Open Bandit
  Pipeline)                        mean(v + 1[w <= tau] w (r - q))

Standard errors: for the single-term estimators the sample standard
deviation (ddof 1) of the per-row term over sqrt(n); for SNIPS and SNDR the
delta method, written out: with the per-row vectors z = (w r, w) and
z = (v, w (r - q), w), their sample covariance S (np.cov, ddof 1) and the
gradient g of f(m) = m0 / m1, resp. m0 + m1 / m2, at the sample means,
se = sqrt(g^T S g / n).  Intervals: estimate -/+ 1.959963984540054 se.
ESS = (sum u)^2 / sum u^2 over the weights u the estimator uses (w; min(w,
cap) for clipped IPS; w 1[w <= tau] for Switch-DR; n for DM); max_weight =
max u (NULL for DM).  Sums for the reference are math.fsum (correctly
rounded), the centred second moments two-pass.

Sections:
 1. Fixed data, four datasets (1,000 and 100,000 rows; rewards 0/1 and
    continuous N(0.5, 1); target probabilities including exact 0 and 1;
    logging probabilities in [0.05, 1] plus a few of 2e-4, 1e-5, 3e-6; cap
    0.5 / 3 / 1e9 and tau 0.5 / 3 / 1e9, below, among and above the
    weights, with rows whose weight is exactly 0.5 or 3): every estimator's estimate to 1e-12 relative, stderr, ess and
    max_weight to 1e-10 relative, ci_low / ci_high to 1e-10 relative to
    max(|ci|, stderr), n exactly.  Switch-DR with tau 0 is DM's value.
 2. Parallel = serial: 200,000 rows, a plan with Partial Aggregate and
    launched workers; all eleven aggregates (three caps, three taus) agree
    with the serial plan to 1e-12 (relative; ci relative to
    max(|ci|, stderr)) and with NumPy as in 1.; likewise GROUP BY over
    2,000 groups.
 3. Stable sums over 10,000,000 rows from generate_series (no table):
    constant rows (reward 0.1, target 0.3, logging 0.7) and periodic rows
    (reward (i % 7) / 7, target 0.25 + (i % 3) / 8, q (i % 5) / 5, ...):
    IPS, SNIPS, DR, DM, SNDR estimates equal the exact values (rational
    arithmetic on the float64 per-row terms) to 1e-14 relative, ESS to
    1e-14, stderr to 1e-10 (0 for constant rows).  PostgreSQL's own
    sum(float8) of the same terms is reported for comparison (a naive sum
    drifts ~1e-10 relative).
 4. NULL rows are skipped (only the arguments an aggregate takes count: a
    NULL q_logged drops the row from DR but not from IPS); zero rows and
    only-NULL rows give a NULL estimate, stderr, ci and max_weight, n = 0;
    one row gives a NULL stderr; every error with its SQLSTATE (logging_prob
    outside (0, 1] or NaN, target_prob outside [0, 1] or NaN: 22003;
    non-finite reward, q_logged, v_target: 22023; cap <= 0, tau < 0: 22023;
    NULL cap / tau: 22004; cap / tau varying across rows: 22023; an error
    in a parallel worker keeps its SQLSTATE), and the same backend answers
    afterwards.
 5. Unbiasedness by simulation: K = 5 actions, 40 contexts (3 features,
    drawn uniformly), softmax logging (mixed with 20% uniform, every
    probability > 0) and target policies, Bernoulli rewards with logistic
    means, so V(pi) = mean_x sum_a pi(a|x) mu(a, x) is exact.  S = 200 seeds
    of n = 2,000 rows, one table, GROUP BY seed: the mean of IPS, SNIPS and
    DR (q, v from the true means plus N(0, 0.03) noise) is within 3
    standard errors of V(pi); DR's variance across seeds is below IPS's;
    the 95% intervals of IPS and DR cover V(pi) in a fraction of seeds in
    [0.90, 0.99].

Seeds: numpy default_rng with fixed seeds.  The database bandit_pytest_ope
is created and dropped here.
"""
import io
import math
import os
import re
import struct
import sys
from fractions import Fraction

import numpy as np
import psycopg2

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from taplib import Db, Tap, run_checks, scratch_database  # noqa: E402

DB = "bandit_pytest_ope"
Z975 = 1.959963984540054
FIELDS = ("estimate", "stderr", "ci_low", "ci_high", "n", "ess", "max_weight")
TOL_EST = 1e-12
TOL_REST = 1e-10

tap = Tap()
check = tap.check


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def parse_estimate(text):
    """dict of ope_estimate's fields from its text form ("(1,0.5,...,)")."""
    if text is None:
        return None
    if not (text.startswith("(") and text.endswith(")")):
        raise ValueError(f"not an ope_estimate: {text}")
    parts = text[1:-1].split(",")
    if len(parts) != len(FIELDS):
        raise ValueError(f"not an ope_estimate: {text}")
    out = {}
    for name, p in zip(FIELDS, parts):
        if p == "":
            out[name] = None
        elif name == "n":
            out[name] = int(p)
        else:
            out[name] = float(p)
    return out


COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
COPY_TRAILER = struct.pack(">h", -1)


def copy_binary(db, table, columns):
    """COPY columns (list of (name, array); int arrays as int4, others float8, no NULLs)."""
    n = len(columns[0][1])
    fields = [("nf", ">i2")]
    for i, (_, arr) in enumerate(columns):
        fields += [(f"l{i}", ">i4"), (f"v{i}", ">i4" if np.asarray(arr).dtype.kind in "iu" else ">f8")]
    rec = np.zeros(n, dtype=fields)
    rec["nf"] = len(columns)
    for i, (_, arr) in enumerate(columns):
        arr = np.asarray(arr)
        if arr.dtype.kind in "iu":
            rec[f"l{i}"] = 4
        else:
            if np.isnan(arr).any():
                raise ValueError("copy_binary: NaN (NULL) not supported")
            rec[f"l{i}"] = 8
        rec[f"v{i}"] = arr
    names = ", ".join(name for name, _ in columns)
    payload = COPY_HEADER + rec.tobytes() + COPY_TRAILER
    db.cur.copy_expert(f"COPY {table} ({names}) FROM STDIN (FORMAT binary)", io.BytesIO(payload))


def copy_text(db, table, columns):
    """COPY with NaN written as NULL (\\N); floats as repr (exact round trip)."""
    names = ", ".join(name for name, _ in columns)
    arrays = [np.asarray(a) for _, a in columns]
    lines = []
    for i in range(len(arrays[0])):
        cells = []
        for a in arrays:
            x = a[i]
            if a.dtype.kind in "iu":
                cells.append(str(int(x)))
            elif math.isnan(x):
                cells.append("\\N")
            else:
                cells.append(repr(float(x)))
        lines.append("\t".join(cells))
    db.cur.copy_expert(f"COPY {table} ({names}) FROM STDIN", io.StringIO("\n".join(lines) + "\n"))


# ---------------------------------------------------------------------------
# The reference: the published formulas, in NumPy
# ---------------------------------------------------------------------------

ARGS = {
    "ips": "rtl", "snips": "rtl", "clipped_ips": "rtl", "dm": "v",
    "dr": "rtlqv", "sndr": "rtlqv", "switch_dr": "rtlqv",
}


def fmean(x):
    return math.fsum(x) / len(x)


def reference(kind, data, param=None):
    """Expected ope_estimate of estimator kind over data (dict r, t, l, q, v; NaN = NULL)."""
    keep = np.ones(len(data["r"]), dtype=bool)
    for c in ARGS[kind]:
        keep &= ~np.isnan(data[c])
    r, t, l, q, v = (np.asarray(data[c], dtype=np.float64)[keep] for c in "rtlqv")
    n = int(keep.sum())
    if n == 0:
        return dict(estimate=None, stderr=None, ci_low=None, ci_high=None, n=0, ess=None, max_weight=None)

    grad = None
    if kind == "dm":
        u = None
        terms = [v]
        est = fmean(v)
    else:
        w = t / l
        if kind == "ips":
            u = w
            terms = [w * r]
            est = fmean(terms[0])
        elif kind == "snips":
            u = w
            terms = [w * r, w]
            m0, m1 = fmean(terms[0]), fmean(w)
            est = math.fsum(terms[0]) / math.fsum(w)
            grad = np.array([1.0 / m1, -m0 / (m1 * m1)])
        elif kind == "clipped_ips":
            u = np.minimum(w, param)
            terms = [u * r]
            est = fmean(terms[0])
        elif kind == "dr":
            u = w
            terms = [v + w * (r - q)]
            est = fmean(terms[0])
        elif kind == "sndr":
            u = w
            b = w * (r - q)
            terms = [v, b, w]
            m1, m2 = fmean(b), fmean(w)
            est = fmean(v) + math.fsum(b) / math.fsum(w)
            grad = np.array([1.0, 1.0 / m2, -m1 / (m2 * m2)])
        elif kind == "switch_dr":
            u = np.where(w <= param, w, 0.0)
            terms = [v + u * (r - q)]
            est = fmean(terms[0])
        else:
            raise ValueError(kind)

    if n >= 2:
        if grad is None:
            z = terms[0]
            c = z - fmean(z)
            se = math.sqrt(math.fsum(c * c) / (n - 1) / n)
        else:
            S = np.cov(np.vstack(terms), ddof=1)
            se = math.sqrt(max(float(grad @ S @ grad), 0.0) / n)
        ci = (est - Z975 * se, est + Z975 * se)
    else:
        se, ci = None, (None, None)

    if u is None:
        ess, mw = float(n), None
    else:
        su, su2 = math.fsum(u), math.fsum(u * u)
        ess = su * su / su2 if su2 > 0 else None   # 0/0: no assertion
        mw = float(np.max(u))
    return dict(estimate=est, stderr=se, ci_low=ci[0], ci_high=ci[1], n=n, ess=ess, max_weight=mw)


def field_err(name, got, ref, ref_se):
    """Relative error of one field (ci relative to max(|ci|, stderr)); 0 if both NULL."""
    if ref is None and got is None:
        return 0.0
    if ref is None or got is None:
        return math.inf
    if name == "n":
        return 0.0 if got == ref else math.inf
    scale = abs(ref)
    if name in ("ci_low", "ci_high") and ref_se is not None:
        scale = max(scale, ref_se)
    if scale == 0:
        return abs(got - ref)
    return abs(got - ref) / scale


def compare(got, ref, tol_est=TOL_EST, tol_rest=TOL_REST, skip=()):
    """Failures (list of strings) and the largest errors, of got against ref."""
    bad, worst = [], {}
    for name in FIELDS:
        if name in skip or (name == "ess" and ref["ess"] is None):
            continue
        e = field_err(name, got[name], ref[name], ref["stderr"])
        tol = tol_est if name == "estimate" else tol_rest
        worst[name] = e
        if not e <= tol:
            bad.append(f"{name}: got {got[name]!r}, expected {ref[name]!r} (err {e:.3g} > {tol:g})")
    return bad, worst


def fmt_worst(worst):
    return ", ".join(f"{k} {v:.2g}" for k, v in worst.items() if k != "n")


# The eleven aggregate calls over a table with columns r, t, l, q, v.
CAPS = (0.5, 3.0, 1e9)
TAUS = (0.5, 3.0, 1e9)
CALLS = ([("ips", None, "ope_ips(r, t, l)"), ("snips", None, "ope_snips(r, t, l)")]
         + [("clipped_ips", c, f"ope_clipped_ips(r, t, l, {c!r})") for c in CAPS]
         + [("dm", None, "ope_dm(v)"), ("dr", None, "ope_dr(r, t, l, q, v)"),
            ("sndr", None, "ope_sndr(r, t, l, q, v)")]
         + [("switch_dr", tau, f"ope_switch_dr(r, t, l, q, v, {tau!r})") for tau in TAUS])
SELECT_ALL = ", ".join(f"{sql}::text" for _, _, sql in CALLS)


def call_name(kind, param):
    if kind == "clipped_ips":
        return f"clipped_ips(cap {param:g})"
    if kind == "switch_dr":
        return f"switch_dr(tau {param:g})"
    return kind


# ---------------------------------------------------------------------------
# 1. Fixed data against NumPy
# ---------------------------------------------------------------------------

def make_data(rng, n, binary, tiny=True):
    """Logged rows: rewards, target / logging probabilities, q_logged, v_target."""
    l = rng.uniform(0.05, 1.0, n)
    t = rng.uniform(0.0, 1.0, n)
    k = max(n // 20, 3)
    idx = rng.choice(n, 2 * k, replace=False)
    t[idx[:k]] = 0.0
    t[idx[k:]] = 1.0
    l[rng.choice(n, max(n // 50, 2), replace=False)] = 1.0
    if tiny:
        pos = rng.choice(np.setdiff1d(np.arange(n), idx), 3, replace=False)
        l[pos] = [2e-4, 1e-5, 3e-6]
        t[pos] = [0.3, 0.05, 0.01]     # weights 1500, 5000, 3333.3...
    # weights exactly at tau / cap 3 and 0.5 (the switch keeps w <= tau)
    free = np.setdiff1d(np.arange(n), idx)
    edge = rng.choice(free[~np.isin(free, pos)] if tiny else free, 4, replace=False)
    t[edge], l[edge] = [0.75, 0.75, 0.25, 0.25], [0.25, 0.25, 0.5, 0.5]
    if binary:
        p = rng.uniform(0.2, 0.8, n)
        r = (rng.random(n) < p).astype(np.float64)
        q = np.clip(p + rng.normal(0, 0.05, n), 0, 1)
        v = np.clip(p + rng.normal(0, 0.1, n), 0, 1)
    else:
        mu = rng.normal(0.5, 0.5, n)
        r = mu + rng.normal(0, 1.0, n)
        q = mu + rng.normal(0, 0.2, n)
        v = mu + rng.normal(0, 0.3, n)
    return dict(r=r, t=t, l=l, q=q, v=v)


def load_table(db, name, data, extra=()):
    db.q(f"CREATE TABLE {name} ({''.join(c + ' int, ' for c, _ in extra)}"
         "r float8, t float8, l float8, q float8, v float8)")
    copy_binary(db, name, list(extra) + [(c, data[c]) for c in "rtlqv"])
    db.q(f"ANALYZE {name}")


def section_fixed(db, rng):
    sets = [("1,000 rows, 0/1 rewards", 1000, True), ("1,000 rows, continuous rewards", 1000, False),
            ("100,000 rows, 0/1 rewards", 100_000, True),
            ("100,000 rows, continuous rewards", 100_000, False)]
    for i, (label, n, binary) in enumerate(sets):
        data = make_data(rng, n, binary)
        w = data["t"] / data["l"]
        load_table(db, f"fixed{i}", data)
        got = [parse_estimate(x) for x in db.q(f"SELECT {SELECT_ALL} FROM fixed{i}")[0]]
        print(f"# {label}: weights in [{w.min():g}, {w.max():g}], "
              f"{(w > 0.5).mean():.0%} above 0.5, {(w > 3).mean():.1%} above 3")
        for (kind, param, _), g in zip(CALLS, got):
            ref = reference(kind, data, param)
            bad, worst = compare(g, ref)
            check(not bad, f"{label}: ope_{call_name(kind, param)} = NumPy "
                  f"(estimate 1e-12, stderr/ci/ess/max_weight 1e-10 relative)",
                  "; ".join(bad) if bad else f"estimate {ref['estimate']:.6g}; errors " + fmt_worst(worst))
        if i == 0:
            # tau 0 switches off every positive weight: DM's value
            g = parse_estimate(db.one("SELECT ope_switch_dr(r, t, l, q, v, 0)::text FROM fixed0"))
            ref = reference("dm", data)
            bad, worst = compare(g, ref, skip=("ess", "max_weight"))
            check(not bad, "Switch-DR with tau 0 = DM (mean of v_target) to 1e-12",
                  "; ".join(bad) if bad else f"ess {g['ess']}, max_weight {g['max_weight']}")


# ---------------------------------------------------------------------------
# 2. Parallel aggregation = serial aggregation
# ---------------------------------------------------------------------------

PARALLEL = ["SET parallel_setup_cost = 0", "SET parallel_tuple_cost = 0",
            "SET min_parallel_table_scan_size = 0", "SET max_parallel_workers_per_gather = 2",
            "SET parallel_leader_participation = on"]
RESET = ["RESET parallel_setup_cost", "RESET parallel_tuple_cost",
         "RESET min_parallel_table_scan_size", "RESET max_parallel_workers_per_gather",
         "RESET parallel_leader_participation"]


def compare_runs(a_rows, b_rows):
    """Largest error per field between two lists of result rows (texts), and failures."""
    worst, bad = {}, []
    for ra, rb in zip(a_rows, b_rows):
        for (kind, param, _), ta, tb in zip(CALLS, ra, rb):
            ea, eb = parse_estimate(ta), parse_estimate(tb)
            b, wst = compare(ea, eb, tol_est=1e-12, tol_rest=1e-12)
            for k, v in wst.items():
                worst[k] = max(worst.get(k, 0.0), v)
            if b and len(bad) < 5:
                bad.append(f"{call_name(kind, param)}: " + "; ".join(b))
    return bad, worst


def section_parallel(db, rng):
    n, groups = 200_000, 2000
    data = make_data(rng, n, binary=False)
    g = rng.integers(0, groups, n).astype(np.int32)
    load_table(db, "par", data, extra=[("g", g)])
    total_sql = f"SELECT {SELECT_ALL} FROM par"
    group_sql = f"SELECT g, {SELECT_ALL} FROM par GROUP BY g ORDER BY g"

    for s in PARALLEL:
        db.q(s)
    plan = "\n".join(row[0] for row in db.q("EXPLAIN (ANALYZE, COSTS OFF) " + total_sql))
    launched = [int(v) for v in re.findall(r"Workers Launched: (\d+)", plan)]
    check("Partial Aggregate" in plan and "Finalize Aggregate" in plan and launched and min(launched) >= 1,
          "200,000 rows: the plan has Partial/Finalize Aggregate and launches workers",
          plan.replace("\n", " | "))
    par_total = db.q(total_sql)
    gplan = "\n".join(row[0] for row in db.q("EXPLAIN (ANALYZE, COSTS OFF) " + group_sql))
    glaunched = [int(v) for v in re.findall(r"Workers Launched: (\d+)", gplan)]
    check(re.search(r"Partial (Hash|Group)?Aggregate", gplan) is not None and glaunched and min(glaunched) >= 1,
          "GROUP BY over 2,000 groups: the plan aggregates partially in workers",
          gplan.replace("\n", " | "))
    par_groups = db.q(group_sql)

    db.q("SET max_parallel_workers_per_gather = 0")
    splan = "\n".join(row[0] for row in db.q("EXPLAIN (COSTS OFF) " + total_sql))
    ser_total = db.q(total_sql)
    ser_groups = db.q(group_sql)
    for s in RESET:
        db.q(s)

    bad, worst = compare_runs(par_total, ser_total)
    check("Gather" not in splan and not bad,
          "200,000 rows, all eleven aggregates: parallel = serial to 1e-12",
          "; ".join(bad) if bad else "largest differences: " + fmt_worst(worst))
    bad = []
    worst = {}
    for (kind, param, _), txt in zip(CALLS, par_total[0]):
        b, wst = compare(parse_estimate(txt), reference(kind, data, param))
        for k, v in wst.items():
            worst[k] = max(worst.get(k, 0.0), v)
        bad += [f"{call_name(kind, param)}: {x}" for x in b]
    check(not bad, "200,000 rows, parallel plan: all eleven aggregates = NumPy (1e-12 / 1e-10)",
          "; ".join(bad) if bad else "largest errors: " + fmt_worst(worst))

    keys_ok = [r[0] for r in par_groups] == [r[0] for r in ser_groups] == list(range(groups))
    bad, worst = compare_runs([r[1:] for r in par_groups], [r[1:] for r in ser_groups])
    check(keys_ok and not bad, "GROUP BY over 2,000 groups, eleven aggregates: parallel = serial to 1e-12",
          "; ".join(bad) if bad else "largest differences: " + fmt_worst(worst))
    # the groups against NumPy too (a sample of 50 groups)
    bad, worst = [], {}
    for gi in range(0, groups, 40):
        sub = {c: data[c][g == gi] for c in "rtlqv"}
        for (kind, param, _), txt in zip(CALLS, par_groups[gi][1:]):
            b, wst = compare(parse_estimate(txt), reference(kind, sub, param))
            for k, v in wst.items():
                worst[k] = max(worst.get(k, 0.0), v)
            bad += [f"group {gi} {call_name(kind, param)}: {x}" for x in b]
    check(not bad, "GROUP BY, parallel plan: 50 groups' eleven aggregates = NumPy (1e-12 / 1e-10)",
          "; ".join(bad[:5]) if bad else "largest errors: " + fmt_worst(worst))


# ---------------------------------------------------------------------------
# 3. Stable sums over 10,000,000 rows
# ---------------------------------------------------------------------------

N_BIG = 10_000_000
PERIOD = 105  # lcm(7, 3, 5)


def exact_periodic():
    """Exact (rational) expected values for the periodic rows, from their float64 terms."""
    f = np.float64
    cnt, z = [], {k: [] for k in ("ips", "snips_w", "dr", "dm", "sndr_b")}
    for i0 in range(1, PERIOD + 1):
        cnt.append((N_BIG - i0) // PERIOD + 1)
        r = f(i0 % 7) / f(7)
        t = f(0.25) + f(i0 % 3) / f(8)
        l = f(0.7)
        q = f(i0 % 5) / f(5)
        v = f(0.5) + f(i0 % 5) / f(10)
        w = t / l
        z["ips"].append(w * r)
        z["snips_w"].append(w)
        z["dr"].append(v + w * (r - q))
        z["dm"].append(v)
        z["sndr_b"].append(w * (r - q))
    assert sum(cnt) == N_BIG

    def S(key, power=1):
        return sum(Fraction(c) * Fraction(float(x)) ** power for c, x in zip(cnt, z[key]))

    def mean_se(key):
        s1, s2 = S(key), S(key, 2)
        var = (s2 - s1 * s1 / N_BIG) / (N_BIG - 1)
        return float(s1 / N_BIG), math.sqrt(float(var) / N_BIG), float(s1)

    out = {}
    for key in ("ips", "dr", "dm"):
        out[key] = mean_se(key)
    sw, sw2 = S("snips_w"), S("snips_w", 2)
    out["snips"] = float(S("ips") / sw)
    out["sndr"] = float(S("dm") / N_BIG + S("sndr_b") / sw)
    out["ess"] = float(sw * sw / sw2)
    return out


def section_stable(db):
    rc, tc, lc = 0.1, 0.3, 0.7
    zc = np.float64(tc) / np.float64(lc) * np.float64(rc)     # the constant row's w r, float64
    sql = f"""
        SELECT ope_ips({rc}::float8, {tc}::float8, {lc}::float8)::text,
               ope_snips({rc}::float8, {tc}::float8, {lc}::float8)::text,
               sum(({tc}::float8 / {lc}::float8) * {rc}::float8),
               ope_ips(r, t, 0.7::float8)::text,
               ope_snips(r, t, 0.7::float8)::text,
               ope_dr(r, t, 0.7::float8, q, v)::text,
               ope_dm(v)::text,
               ope_sndr(r, t, 0.7::float8, q, v)::text,
               sum(t / 0.7::float8 * r)
        FROM (SELECT (i % 7)::float8 / 7::float8 AS r,
                     0.25::float8 + (i % 3)::float8 / 8::float8 AS t,
                     (i % 5)::float8 / 5::float8 AS q,
                     0.5::float8 + (i % 5)::float8 / 10::float8 AS v
              FROM generate_series(1, {N_BIG}) AS i) s"""
    row = db.q(sql)[0]
    c_ips, c_snips = parse_estimate(row[0]), parse_estimate(row[1])
    naive_c = row[2] / N_BIG
    p_ips, p_snips, p_dr, p_dm, p_sndr = (parse_estimate(x) for x in row[3:8])
    naive_p = row[8] / N_BIG
    ex = exact_periodic()

    def rel(a, b):
        return abs(a - b) / abs(b)

    zc = float(zc)
    w_c = tc / lc
    snips_c = float(Fraction(zc) / Fraction(w_c))   # sum(w r) / sum(w) with equal rows, exactly
    errs = {"ips": rel(c_ips["estimate"], zc), "snips": rel(c_snips["estimate"], snips_c),
            "ess": rel(c_ips["ess"], N_BIG)}
    check(max(errs.values()) <= 1e-14 and c_ips["stderr"] == 0.0 and c_ips["n"] == N_BIG,
          "10^7 constant rows (reward 0.1, target 0.3, logging 0.7): IPS, SNIPS estimates and ESS exact "
          "to 1e-14 relative, stderr 0",
          f"relative errors {', '.join(f'{k} {v:.2g}' for k, v in errs.items())}; stderr {c_ips['stderr']!r}; "
          f"PostgreSQL's naive sum(float8)/n is off by {rel(naive_c, zc):.2g} relative")
    print(f"# 10^7 constant rows: ope_ips off by {errs['ips']:.2g} relative, "
          f"sum(float8)/n by {rel(naive_c, zc):.2g}")

    errs = {"ips": rel(p_ips["estimate"], ex["ips"][0]), "snips": rel(p_snips["estimate"], ex["snips"]),
            "dr": rel(p_dr["estimate"], ex["dr"][0]), "dm": rel(p_dm["estimate"], ex["dm"][0]),
            "sndr": rel(p_sndr["estimate"], ex["sndr"]), "ess": rel(p_ips["ess"], ex["ess"])}
    check(max(errs.values()) <= 1e-14,
          "10^7 periodic rows: IPS, SNIPS, DR, DM, SNDR estimates and ESS = exact rational values to 1e-14",
          f"relative errors {', '.join(f'{k} {v:.2g}' for k, v in errs.items())}; "
          f"PostgreSQL's naive sum(float8)/n of w r is off by {rel(naive_p, ex['ips'][0]):.2g}")
    print(f"# 10^7 periodic rows: ope_ips off by {errs['ips']:.2g} relative, "
          f"sum(float8)/n by {rel(naive_p, ex['ips'][0]):.2g}")
    serr = {"ips": rel(p_ips["stderr"], ex["ips"][1]), "dr": rel(p_dr["stderr"], ex["dr"][1]),
            "dm": rel(p_dm["stderr"], ex["dm"][1])}
    check(max(serr.values()) <= 1e-10 and p_ips["n"] == p_dr["n"] == p_dm["n"] == N_BIG,
          "10^7 periodic rows: IPS, DR, DM standard errors = exact to 1e-10 relative",
          ", ".join(f"{k} {v:.2g}" for k, v in serr.items()))


# ---------------------------------------------------------------------------
# 4. NULLs, empty input, errors
# ---------------------------------------------------------------------------

def section_nulls_errors(db, rng):
    n = 300
    data = make_data(rng, n, binary=True, tiny=False)
    nulls = {}
    for c in "rtlqv":
        m = rng.random(n) < 0.06
        data[c] = np.where(m, np.nan, data[c])
        nulls[c] = int(m.sum())
    db.q("CREATE TABLE nul (r float8, t float8, l float8, q float8, v float8)")
    copy_text(db, "nul", [(c, data[c]) for c in "rtlqv"])
    got = [parse_estimate(x) for x in db.q(f"SELECT {SELECT_ALL} FROM nul")[0]]
    bad, ns = [], {}
    for (kind, param, _), g in zip(CALLS, got):
        ref = reference(kind, data, param)
        ns[kind] = (g["n"], ref["n"])
        b, _ = compare(g, ref)
        bad += [f"{call_name(kind, param)}: {x}" for x in b]
    check(not bad, f"300 rows with NULLs ({', '.join(f'{c} {k}' for c, k in nulls.items())}): each aggregate "
          "skips exactly the rows with a NULL among its own arguments, = NumPy on the rest",
          "; ".join(bad) if bad else
          "n: " + ", ".join(f"{k} {v[0]}" for k, v in ns.items()))
    only_q = np.isnan(data["q"]) & ~np.isnan(data["r"]) & ~np.isnan(data["t"]) & ~np.isnan(data["l"])
    check(ns["ips"][0] - ns["dr"][0] >= int(only_q.sum()) > 0,
          "a NULL q_logged drops the row from DR, not from IPS",
          f"IPS n {ns['ips'][0]}, DR n {ns['dr'][0]}, rows with only q NULL among r, t, l, q: {int(only_q.sum())}")

    empty_sources = {"no rows": "FROM nul WHERE false",
                     "only NULL rows": "FROM (VALUES (NULL::float8), (NULL)) AS s(r), "
                                       "(VALUES (0.5::float8, 0.5::float8, 0.5::float8, 0.5::float8)) AS k(t, l, q, v)"}
    for label, src in empty_sources.items():
        bad = []
        for kind, param, call in CALLS:
            if label == "only NULL rows" and kind == "dm":
                call = "ope_dm(r)"
            e = parse_estimate(db.one(f"SELECT {call}::text {src}"))
            if not (e["estimate"] is None and e["stderr"] is None and e["ci_low"] is None
                    and e["ci_high"] is None and e["n"] == 0 and e["max_weight"] is None):
                bad.append(f"{call_name(kind, param)}: {e}")
        check(not bad, f"{label}: every aggregate gives estimate, stderr, ci, max_weight NULL and n = 0",
              "; ".join(bad))
    bad = []
    for kind, param, call in CALLS:
        e = parse_estimate(db.one(f"SELECT {call}::text FROM (VALUES (1::float8, 0.5::float8, 0.25::float8, "
                                  "0.5::float8, 0.4::float8)) AS s(r, t, l, q, v)"))
        ref = reference(kind, dict(r=np.array([1.0]), t=np.array([0.5]), l=np.array([0.25]),
                                   q=np.array([0.5]), v=np.array([0.4])), param)
        b, _ = compare(e, ref)
        if b or e["stderr"] is not None:
            bad.append(f"{call_name(kind, param)}: {e} vs {ref}")
    check(not bad, "one row: the estimate = NumPy, stderr and ci NULL (n - 1 = 0)", "; ".join(bad))

    # Errors
    pid = db.one("SELECT pg_backend_pid()")
    weighted = [("ips", "ope_ips({r}, {t}, {l})"), ("snips", "ope_snips({r}, {t}, {l})"),
                ("clipped_ips", "ope_clipped_ips({r}, {t}, {l}, 2)"), ("dr", "ope_dr({r}, {t}, {l}, {q}, {v})"),
                ("sndr", "ope_sndr({r}, {t}, {l}, {q}, {v})"),
                ("switch_dr", "ope_switch_dr({r}, {t}, {l}, {q}, {v}, 2)")]
    model = [x for x in weighted if x[0] in ("dr", "sndr", "switch_dr")] + [("dm", "ope_dm({v})")]
    ok = dict(r="1::float8", t="0.5::float8", l="0.5::float8", q="0.3::float8", v="0.4::float8")

    def err_case(label, calls, bad_arg, value, code):
        fails = []
        for kind, tmpl in calls:
            args = dict(ok)
            args[bad_arg] = value
            # a good row first, then the bad one
            sql = (f"SELECT {tmpl.format(**{k: 'x.' + k for k in ok})} FROM (VALUES "
                   f"({ok['r']}, {ok['t']}, {ok['l']}, {ok['q']}, {ok['v']}), "
                   f"({args['r']}, {args['t']}, {args['l']}, {args['q']}, {args['v']})) AS x(r, t, l, q, v)")
            e = db.error(sql)
            if e is None or e[0] != code:
                fails.append(f"{kind}: got {e} for {value}")
        check(not fails, f"{label} -> {code} ({', '.join(k for k, _ in calls)})", "; ".join(fails))

    for value in ("0::float8", "(-0.5)::float8", "1.5::float8", "'NaN'::float8", "'-Infinity'::float8"):
        err_case(f"logging_prob {value.split('::')[0]}", weighted, "l", value, "22003")
    for value in ("(-0.1)::float8", "1.1::float8", "'NaN'::float8", "'Infinity'::float8"):
        err_case(f"target_prob {value.split('::')[0]}", weighted, "t", value, "22003")
    for value in ("'Infinity'::float8", "'-Infinity'::float8", "'NaN'::float8"):
        err_case(f"reward {value.split('::')[0]}", weighted, "r", value, "22023")
    for value in ("'Infinity'::float8", "'NaN'::float8"):
        err_case(f"q_logged {value.split('::')[0]}", [x for x in model if x[0] != "dm"], "q", value, "22023")
    for value in ("'-Infinity'::float8", "'NaN'::float8"):
        err_case(f"v_target {value.split('::')[0]}", model, "v", value, "22023")

    param_cases = [
        ("cap 0", "SELECT ope_clipped_ips(1, 0.5, 0.5, 0)", "22023"),
        ("cap -1", "SELECT ope_clipped_ips(1, 0.5, 0.5, -1)", "22023"),
        ("cap NaN", "SELECT ope_clipped_ips(1, 0.5, 0.5, 'NaN')", "22023"),
        ("tau -1", "SELECT ope_switch_dr(1, 0.5, 0.5, 0.3, 0.4, -1)", "22023"),
        ("tau -1e-300", "SELECT ope_switch_dr(1, 0.5, 0.5, 0.3, 0.4, -1e-300)", "22023"),
        ("tau NaN", "SELECT ope_switch_dr(1, 0.5, 0.5, 0.3, 0.4, 'NaN')", "22023"),
        ("cap NULL", "SELECT ope_clipped_ips(1, 0.5, 0.5, NULL)", "22004"),
        ("tau NULL", "SELECT ope_switch_dr(1, 0.5, 0.5, 0.3, 0.4, NULL)", "22004"),
        ("cap NULL on a row whose reward is NULL",
         "SELECT ope_clipped_ips(r, 0.5, 0.5, c) FROM (VALUES (1::float8, 2::float8), (NULL, NULL)) s(r, c)",
         "22004"),
        ("cap varying across rows",
         "SELECT ope_clipped_ips(1, 0.5, 0.5, c) FROM (VALUES (2::float8), (3::float8)) s(c)", "22023"),
        ("tau varying across rows",
         "SELECT ope_switch_dr(1, 0.5, 0.5, 0.3, 0.4, c) FROM (VALUES (2::float8), (3::float8)) s(c)", "22023"),
        ("tau varying across rows in one group of a GROUP BY",
         "SELECT g, ope_switch_dr(1, 0.5, 0.5, 0.3, 0.4, c) FROM (VALUES (1, 2::float8), (2, 3::float8), "
         "(1, 3::float8)) s(g, c) GROUP BY g", "22023"),
    ]
    for label, sql, code in param_cases:
        e = db.error(sql)
        check(e is not None and e[0] == code, f"{label} -> {code}", f"got {e}")
    e = db.error("SELECT ope_clipped_ips(1, 0.5, 0.5, c), ope_switch_dr(1, 0.5, 0.5, 0.3, 0.4, c) "
                 "FROM (VALUES (2::float8), (2::float8)) s(c)")
    check(e is None, "the same cap / tau on every row is accepted", f"got {e}")

    # an error raised in a parallel worker
    for s in PARALLEL:
        db.q(s)
    sql = "SELECT ope_ips(r, t, CASE WHEN g = 1777 THEN 0 ELSE l END) FROM par"
    plan = "\n".join(row[0] for row in db.q("EXPLAIN (COSTS OFF) " + sql))
    e = db.error(sql)
    for s in RESET:
        db.q(s)
    check("Partial Aggregate" in plan and e is not None and e[0] == "22003",
          "logging_prob 0 in a parallel scan (200,000 rows) -> 22003", f"got {e}")

    pid2 = db.one("SELECT pg_backend_pid()")
    check(pid2 == pid and db.one("SELECT 1") == 1,
          "after every error the same backend answers SELECT 1", f"pid {pid} -> {pid2}")


# ---------------------------------------------------------------------------
# 5. Unbiasedness, variance and coverage by simulation
# ---------------------------------------------------------------------------

def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def section_simulation(db):
    K, M, D, S, n = 5, 40, 3, 200, 2000
    prob_rng = np.random.default_rng(777)
    X = prob_rng.standard_normal((M, D))
    p_log = 0.8 * softmax(X @ prob_rng.normal(0, 0.8, (D, K))) + 0.2 / K
    pi = softmax(1.5 * (X @ prob_rng.normal(0, 1.0, (D, K))))
    mu = 1.0 / (1.0 + np.exp(-(X @ prob_rng.normal(0, 0.7, (D, K)) + prob_rng.normal(0, 0.8, K))))
    V = float(np.mean(np.sum(pi * mu, axis=1)))
    print(f"# simulation: V(pi) = {V:.6f}; logging probabilities in [{p_log.min():.3f}, {p_log.max():.3f}], "
          f"target in [{pi.min():.2g}, {pi.max():.3f}], max weight {np.max(pi / p_log):.2f}; "
          f"V(logging) = {np.mean(np.sum(p_log * mu, axis=1)):.4f}")

    cols = {c: [] for c in ("seed", "r", "t", "l", "q", "v")}
    keep = {}
    for s in range(S):
        rng = np.random.default_rng(10_000 + s)
        m = rng.integers(0, M, n)
        u = rng.random(n)
        a = np.minimum((np.cumsum(p_log[m], axis=1) < u[:, None]).sum(axis=1), K - 1)
        r = (rng.random(n) < mu[m, a]).astype(np.float64)
        qhat = np.clip(mu + rng.normal(0, 0.03, (M, K)), 0.0, 1.0)
        vhat = np.sum(pi * qhat, axis=1)
        cols["seed"].append(np.full(n, s, dtype=np.int32))
        cols["r"].append(r)
        cols["t"].append(pi[m, a])
        cols["l"].append(p_log[m, a])
        cols["q"].append(qhat[m, a])
        cols["v"].append(vhat[m])
        if s < 5:
            keep[s] = dict(r=r, t=pi[m, a], l=p_log[m, a], q=qhat[m, a], v=vhat[m])
    cols = {k: np.concatenate(v) for k, v in cols.items()}
    db.q("CREATE TABLE sim (seed int, r float8, t float8, l float8, q float8, v float8)")
    copy_binary(db, "sim", [(c, cols[c]) for c in ("seed", "r", "t", "l", "q", "v")])
    rows = db.q("SELECT seed, ope_ips(r, t, l)::text, ope_snips(r, t, l)::text, ope_dr(r, t, l, q, v)::text "
                "FROM sim GROUP BY seed ORDER BY seed")
    check([r[0] for r in rows] == list(range(S)), "simulation: one result per seed")
    res = {k: [parse_estimate(r[i]) for r in rows] for i, k in ((1, "ips"), (2, "snips"), (3, "dr"))}

    bad = []
    for s, d in keep.items():
        for k in res:
            b, _ = compare(res[k][s], reference(k, d))
            bad += [f"seed {s} {k}: {x}" for x in b]
    check(not bad, "simulation: the first five seeds' IPS, SNIPS, DR = NumPy (1e-12 / 1e-10)", "; ".join(bad))

    est = {k: np.array([e["estimate"] for e in v]) for k, v in res.items()}
    for k in ("ips", "snips", "dr"):
        mean, se = est[k].mean(), est[k].std(ddof=1) / math.sqrt(S)
        zscore = (mean - V) / se
        check(abs(zscore) <= 3, f"simulation: mean of {k.upper()} over {S} seeds within 3 standard errors of V(pi)",
              f"mean {mean:.6f}, V {V:.6f}, se {se:.2g}, z {zscore:+.2f}; sd across seeds "
              f"{est[k].std(ddof=1):.4f}, mean reported stderr {np.mean([e['stderr'] for e in res[k]]):.4f}")
    vi, vd = est["ips"].var(ddof=1), est["dr"].var(ddof=1)
    check(vd < vi, "simulation: DR's variance across seeds is below IPS's",
          f"var DR {vd:.3g}, var IPS {vi:.3g}, ratio {vd / vi:.3f}")
    for k in ("ips", "dr"):
        cover = np.mean([e["ci_low"] <= V <= e["ci_high"] for e in res[k]])
        print(f"# simulation: 95% interval coverage of {k.upper()}: {cover:.3f} ({S} seeds)")
        check(0.90 <= cover <= 0.99, f"simulation: coverage of {k.upper()}'s 95% intervals in [0.90, 0.99]",
              f"coverage {cover:.3f}")


# ---------------------------------------------------------------------------

def main():
    with scratch_database(DB) as conn:
        db = Db(conn)
        db.q("SET extra_float_digits = 3")
        rng = np.random.default_rng(20240917)
        section_fixed(db, rng)
        section_parallel(db, rng)
        section_stable(db)
        section_nulls_errors(db, rng)
        section_simulation(db)
    return tap.report()


if __name__ == "__main__":
    run_checks(main, "ope_estimators.py")
