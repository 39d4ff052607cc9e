#!/usr/bin/python3
"""Aggregate values and partial states across process boundaries (TAP).

What a distributed planner ships between nodes: Citus, with the GROUP BY on
the distribution column, runs the whole aggregate on each worker and ships
the final values, in binary when every result type has send/receive
(citus.enable_binary_protocol, on by default) and as text otherwise (row
types such as ope_estimate); postgres_fdw ships them as text.  Without the
distribution column in the GROUP BY, partial states cross the wire: the
aggregates' internal states go through their SERIALFUNC / DESERIALFUNC and
are merged by their COMBINEFUNC, exactly as in a parallel plan.  So:

 1. Every output value of every aggregate (beta_posterior from
    beta_posterior_agg, normal_posterior from normal_posterior_agg,
    linear_posterior from both forms of linear_posterior_agg, ope_estimate
    from the seven estimators) over 64 groups of generated data (fractional
    and 0/1 rewards, scales from 1e-6 to 1e8, contexts of dimension 1 to 8,
    groups of one row, groups whose rows are all NULL, an estimator with
    sum(w) = 0, so ope_estimate values with NULL fields), plus a few
    hand-made extreme values (subnormal and near-overflow numbers, n near
    2^63): round trip through text (the client reads out, sends the text back
    to in) and through binary (COPY ... (FORMAT binary) out through the
    client, COPY ... FROM STDIN (FORMAT binary) back, which calls send and
    recv) bit-exactly: the send bytes (record_send for ope_estimate: every
    field's bits and NULLs) and the text are identical, and for
    linear_posterior the recomputed cached factor gives bit-identical theta.
 2. Partial aggregation with parallel workers (parallel_setup_cost = 0,
    parallel_tuple_cost = 0, min_parallel_table_scan_size = 0, four workers
    per gather, parallel_leader_participation = off, so every row goes
    through a worker's state, its serialization and the leader's
    deserialization and combine): EXPLAIN ANALYZE VERBOSE shows Partial and
    Finalize Aggregate nodes for all eleven aggregates and launched workers;
    over 200,000 rows, ungrouped and GROUP BY 40 groups, every count (the n
    of each value) equals the serial plan's exactly, and every other number
    is within 1e-12 relative (stderr, ci_low, ci_high of the estimates:
    1e-10 relative to max(|value|, stderr), as in ope_estimators.py).  The
    largest differences are printed.

The database bandit_pytest_aggrt is created and dropped here.
"""
import io
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from taplib import Db, Tap, run_checks, scratch_database  # noqa: E402

DB = "bandit_pytest_aggrt"
tap = Tap()
check = tap.check

# name, SQL type, aggregate expression over the generated rows
AGGS = [
    ("beta", "beta_posterior", "beta_posterior_agg(reward)"),
    ("normal", "normal_posterior", "normal_posterior_agg(gain)"),
    ("linear", "linear_posterior", "linear_posterior_agg(x, reward)"),
    ("linear_l", "linear_posterior", "linear_posterior_agg(x, gain, 0.25)"),
    ("ips", "ope_estimate", "ope_ips(reward, target_prob, logging_prob)"),
    ("snips", "ope_estimate", "ope_snips(reward, target_prob, logging_prob)"),
    ("clipped_ips", "ope_estimate", "ope_clipped_ips(reward, target_prob, logging_prob, 4)"),
    ("dm", "ope_estimate", "ope_dm(v_target)"),
    ("dr", "ope_estimate", "ope_dr(reward, target_prob, logging_prob, q_logged, v_target)"),
    ("sndr", "ope_estimate", "ope_sndr(reward, target_prob, logging_prob, q_logged, v_target)"),
    ("switch_dr", "ope_estimate", "ope_switch_dr(reward, target_prob, logging_prob, q_logged, v_target, 4)"),
]
TYPES = ["beta_posterior", "normal_posterior", "linear_posterior", "ope_estimate"]
SEND = {"beta_posterior": "beta_posterior_send", "normal_posterior": "normal_posterior_send",
        "linear_posterior": "linear_posterior_send", "ope_estimate": "record_send"}
SELECT_LIST = ", ".join(f"{expr} AS {name}" for name, _, expr in AGGS)
COLUMNS_OF = {t: [name for name, typ, _ in AGGS if typ == t] for t in TYPES}

# 64 groups; group g has a context dimension 1 + g % 8 and a scale 10^(g % 15 - 6)
ROWS_SQL = """
SELECT g,
       CASE WHEN g = 62 OR (g % 5 = 1 AND i % 7 = 0) THEN NULL   -- group 62: no rewards at all
            WHEN g % 3 = 0 THEN (random() < 0.3)::int::float8    -- 0/1 rewards
            ELSE random() END AS reward,                         -- fractional rewards
       CASE WHEN g = 62 THEN NULL ELSE power(10, g % 15 - 6) * (random() - 0.3) + g END AS gain,
       CASE WHEN g = 62 THEN NULL
            ELSE ARRAY(SELECT CASE WHEN k = 1 THEN 1 ELSE power(10, (g % 4) - 2) * random() END
                         FROM generate_series(1, 1 + g % 8) k WHERE i > 0) END AS x,
       CASE WHEN g = 61 THEN 0 ELSE random() END AS target_prob,      -- group 61: sum(w) = 0
       0.001 + 0.999 * random() AS logging_prob,
       random() AS q_logged, random() AS v_target
  FROM generate_series(0, 63) g
  CROSS JOIN LATERAL generate_series(1, CASE WHEN g = 60 THEN 1 ELSE 40 + 7 * g END) i
"""

# extreme values made by hand (text input): the aggregates cannot produce
# them from ordinary data, but a value stored and shipped may be anything valid
EDGE = {
    "beta_posterior": ["(alpha=4.9e-324, beta=1.7976931348623157e308, n=9223372036854775807)",
                       "(alpha=2.2250738585072014e-308, beta=0.1, n=0)"],
    "normal_posterior": ["(mean=-1.7976931348623157e308, kappa=5e-324, alpha=1e308, beta=4.9e-324, n=1)",
                         "(mean=-0, kappa=0.30000000000000004, alpha=1, beta=1, n=9223372036854775807)"],
    "linear_posterior": ["(dim=2, n=3, lambda=5e-324, A={{1e300,-2.5e-310},{-2.5e-310,7}}, b={-0,1e-300})",
                         "(dim=1, n=9223372036854775807, lambda=0, A={{0}}, b={0})"],
    "ope_estimate": ["(1e308,4.9e-324,-1.7976931348623157e308,,0,0,)",
                     "(,,,,9223372036854775807,0.1,0.30000000000000004)"],
}


def numbers(text):
    return [float(m) for m in re.findall(r"-?\d+(?:\.\d*)?(?:e[-+]?\d+)?|-?Infinity|NaN", text)]


def main():
    with scratch_database(DB) as conn:
        db = Db(conn)
        db.q("SELECT setseed(0.61)")
        db.q(f"CREATE TABLE src AS {ROWS_SQL}")
        db.q(f"CREATE TABLE vals AS SELECT g, {SELECT_LIST} FROM src GROUP BY g")
        for typ, edges in EDGE.items():
            col = COLUMNS_OF[typ][0]
            for k, text in enumerate(edges):
                db.q(f"INSERT INTO vals (g, {col}) VALUES (%s, %s::{typ})", (1000 + 10 * TYPES.index(typ) + k, text))
        nvals = db.one("SELECT count(*) FROM vals")
        # (a composite "IS NOT NULL" only when every field is: num_nonnulls tests the value)
        nulls = db.one("SELECT count(*) FROM vals WHERE (snips).estimate IS NULL OR (ips).stderr IS NULL")

        # --- 1. text round trip through the client -------------------------
        for typ in TYPES:
            bad = []
            total = 0
            for col in COLUMNS_OF[typ]:
                rows = db.q(f"SELECT g, {col}::text, {SEND[typ]}({col}) FROM vals WHERE num_nonnulls({col}) = 1 ORDER BY g")
                for g, text, sent in rows:
                    total += 1
                    back_text, back_sent = db.q(f"SELECT %s::{typ}::text, {SEND[typ]}(%s::{typ})", (text, text))[0]
                    if back_text != text or bytes(back_sent) != bytes(sent):
                        bad.append((col, g, text, back_text))
                if typ == "linear_posterior":
                    # the cached factor, recomputed from the text, gives the same theta
                    diff = db.one(f"""SELECT count(*) FROM vals
                                       WHERE num_nonnulls({col}) = 1 AND linear_posterior_theta({col})::text
                                             IS DISTINCT FROM linear_posterior_theta({col}::text::linear_posterior)::text
                                         AND g < 1000""")
                    if diff:
                        bad.append((col, "theta", diff, None))
            check(not bad and total > 0,
                  f"{typ}: {total} values round-trip through text (out, client, in) bit-exactly "
                  "(identical send bytes and text" + ("; theta of the recomputed factor identical)" if typ == "linear_posterior" else ")"),
                  f"first mismatches: {bad[:3]}" if bad else None)

        # --- 1b. binary round trip: COPY (FORMAT binary) out and back in ---------
        buf = io.BytesIO()
        db.cur.copy_expert("COPY (SELECT * FROM vals ORDER BY g) TO STDOUT (FORMAT binary)", buf)
        size = buf.tell()
        buf.seek(0)
        db.q("CREATE TABLE vals_back (LIKE vals)")
        db.cur.copy_expert("COPY vals_back FROM STDIN (FORMAT binary)", buf)
        for typ in TYPES:
            cols = COLUMNS_OF[typ]
            conds = " OR ".join(
                f"{SEND[typ]}(a.{c}) IS DISTINCT FROM {SEND[typ]}(b.{c}) OR a.{c}::text IS DISTINCT FROM b.{c}::text"
                for c in cols)
            if typ == "linear_posterior":
                conds += " OR " + " OR ".join(
                    f"(a.g < 1000 AND linear_posterior_theta(a.{c})::text IS DISTINCT FROM linear_posterior_theta(b.{c})::text)"
                    for c in cols)
            bad = db.one(f"SELECT count(*) FROM vals a FULL JOIN vals_back b USING (g) WHERE a.g IS NULL OR b.g IS NULL OR {conds}")
            total = db.one(f"SELECT count(*) FROM vals WHERE " + " OR ".join(f"num_nonnulls({c}) = 1" for c in cols))
            check(bad == 0 and total > 0,
                  f"{typ}: {total} rows round-trip through binary COPY (send, client, recv) bit-exactly",
                  f"{bad} rows differ" if bad else None)
        print(f"# {nvals} rows of values ({nulls} with NULL estimate fields), binary COPY {size} bytes")

        # --- 2. parallel partial aggregation against serial ---------------------
        db.q("SELECT setseed(0.37)")
        db.q("""CREATE TABLE big AS
                SELECT i % 40 AS k,
                       CASE WHEN i % 97 = 0 THEN NULL ELSE random() END AS reward,
                       1000 + 10 * random() AS gain,
                       ARRAY[1, random(), 10 * random()] AS x,
                       random() AS target_prob, 0.01 + 0.99 * random() AS logging_prob,
                       random() AS q_logged, random() AS v_target
                  FROM generate_series(1, 200000) i""")
        db.q("ANALYZE big")
        parallel = ["SET parallel_setup_cost = 0", "SET parallel_tuple_cost = 0",
                    "SET min_parallel_table_scan_size = 0", "SET max_parallel_workers_per_gather = 4",
                    "SET parallel_leader_participation = off"]
        for grouped in (False, True):
            key = "k, " if grouped else ""
            group_by = " GROUP BY k" if grouped else ""
            label = "GROUP BY 40 groups" if grouped else "ungrouped"
            query = f"SELECT {key}{SELECT_LIST} FROM big{group_by}"
            for s in parallel:
                db.q(s)
            launched, plan = 0, ""
            for _ in range(5):  # workers may be short for a moment on a busy server
                plan = "\n".join(r[0] for r in db.q(f"EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF) {query}"))
                launched = sum(int(m) for m in re.findall(r"Workers Launched: (\d+)", plan))
                if launched:
                    break
            partial = all(f"PARTIAL {expr.split('(')[0]}(" in plan for _, _, expr in AGGS)
            check(launched > 0 and "Partial" in plan and "Finalize" in plan and partial,
                  f"{label}: parallel plan with Partial and Finalize Aggregate for all eleven aggregates, "
                  f"{launched} workers launched",
                  None if launched and partial else plan[:2000])
            as_text = f"SELECT {key}{', '.join(f'({expr})::text' for _, _, expr in AGGS)} FROM big{group_by} ORDER BY 1"
            par = db.q(as_text)
            db.q("SET max_parallel_workers_per_gather = 0")
            ser = db.q(as_text)
            db.q("RESET ALL")
            offset = 1 if grouped else 0
            count_bad, tol_bad, worst, identical, total = [], [], {}, 0, 0
            for prow, srow in zip(par, ser):
                for j, (name, typ, _) in enumerate(AGGS):
                    p, s = prow[offset + j], srow[offset + j]
                    total += 1
                    identical += p == s
                    if typ == "ope_estimate":
                        pf, sf = p[1:-1].split(","), s[1:-1].split(",")
                        if pf[4] != sf[4]:
                            count_bad.append((name, p, s))
                        fields = ["estimate", "stderr", "ci_low", "ci_high", "n", "ess", "max_weight"]
                        se = max(float(pf[1]) if pf[1] else 0.0, float(sf[1]) if sf[1] else 0.0)
                        for fname, a, b in zip(fields, pf, sf):
                            if fname == "n":
                                continue
                            if (a == "") != (b == ""):
                                tol_bad.append((name, fname, a, b))
                                continue
                            if a == "":
                                continue
                            a, b = float(a), float(b)
                            if fname in ("stderr", "ci_low", "ci_high"):
                                scale, tol = max(abs(a), abs(b), se), 1e-10
                            else:
                                scale, tol = max(abs(a), abs(b)), 1e-12
                            rel = abs(a - b) / scale if scale else 0.0
                            worst[f"{name}.{fname}"] = max(worst.get(f"{name}.{fname}", 0.0), rel)
                            if rel > tol:
                                tol_bad.append((name, fname, a, b))
                    else:
                        np_, ns = re.search(r"(?:^|[(, ])n=(\d+)", p), re.search(r"(?:^|[(, ])n=(\d+)", s)
                        if not np_ or not ns or np_.group(1) != ns.group(1):
                            count_bad.append((name, p, s))
                        a_nums, b_nums = numbers(p), numbers(s)
                        if len(a_nums) != len(b_nums):
                            tol_bad.append((name, p, s))
                            continue
                        for a, b in zip(a_nums, b_nums):
                            scale = max(abs(a), abs(b))
                            rel = abs(a - b) / scale if scale else 0.0
                            worst[name] = max(worst.get(name, 0.0), rel)
                            if rel > 1e-12:
                                tol_bad.append((name, a, b))
            rows_ok = len(par) == len(ser) == (40 if grouped else 1)
            check(rows_ok and not count_bad,
                  f"{label}: every count (n of all {total} values) of the parallel plan equals the serial plan's exactly",
                  f"{count_bad[:3]}" if count_bad else None)
            check(rows_ok and not tol_bad,
                  f"{label}: every number of the parallel plan within 1e-12 relative of the serial plan "
                  "(stderr and interval 1e-10 of max(|value|, stderr))",
                  f"{tol_bad[:3]}" if tol_bad else None)
            top = sorted(worst.items(), key=lambda kv: -kv[1])[:4]
            print(f"# {label}: {identical} of {total} values bit-identical to the serial plan; largest relative "
                  "differences: " + ", ".join(f"{k} {v:.1e}" for k, v in top))
    return tap.report()


if __name__ == "__main__":
    run_checks(main, "agg_state_roundtrip.py")
