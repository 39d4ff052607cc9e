#!/usr/bin/python3
"""Posteriors as values and the monitoring functions against NumPy/SciPy (TAP).

Every expected value is computed here from the data this script generated
or read back from the log, with the formulas written out below; none is
copied from the extension.

 1. Merge with large means: rewards 1e6 + N(0, 1) in two halves;
    normal_posterior_agg of each half merged equals the posterior of the
    whole computed here (n, the mean by math.fsum, m2 two-pass with
    math.fsum, folded into NIG(0, 0.01, 1, 1) by the conjugate formulas)
    to 1e-12 relative, n exactly.  The same for beta_posterior_agg of
    rewards in [0, 1].
 2. Moving windows: a series that drifts slowly and jumps by 1e6 (and back)
    twice, ROWS 50 PRECEDING and RANGE '2 hours' PRECEDING: every row's
    normal_posterior_agg equals the posterior of its frame computed here to
    1e-11 relative (the shifted-sums state declines to subtract, and
    PostgreSQL refolds the frame, when the frame has moved far from its
    shift); beta_posterior_agg to 1e-13.  The worst errors are printed.
 3. bandit_srm against a separate implementation here (NumPy, eigen-
    decomposition pseudo-inverse) on a log with an arm disabled and enabled
    again, a pause and sticky repeats: chi_square to 1e-9 relative, arms and
    decisions exactly, and the p-value equals scipy.stats.chi2.sf(chi_square,
    arms - 1) to 1e-12 relative.
 4. bandit_srm under a correct log: 200 seeds (100 Thompson sampling online,
    50 Thompson batch refreshed every 40 decisions, 50 softmax), 400
    decisions each over three Bernoulli arms: the p-values are uniform (KS
    test against U(0, 1): p > 0.001; every decile holds 7 to 35 of the 200).
 5. bandit_srm on a corrupted log: 10% of the decisions (chosen with a
    fixed NumPy seed) rewritten to arm 'a' after the fact, in a uniform
    experiment (3,000 decisions) and a Thompson one (6,000): p < 1e-6, while
    the same logs before the rewrite give p > 0.001.
 6. bandit_drift against scipy.stats.ttest_ind(equal_var=False) on the
    rewards read back from the log (Gaussian and Bernoulli experiments,
    decisions moved back in time by hand): p-values to 1e-10 relative, means
    to 1e-13; an arm with one recent reward gets NULL.

The database bandit_pytest_values is created and dropped here.
"""
import concurrent.futures
import math
import os
import sys

import numpy as np
from scipy import stats

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from taplib import Db, Tap, connect, run_checks, scratch_database  # noqa: E402

DBNAME = "bandit_pytest_values"
PRIOR = (0.0, 0.01, 1.0, 1.0)   # mean, kappa, alpha, beta

PLAY = """
CREATE FUNCTION pg_temp.play(exp text, rounds int, levels float8[], refresh_every int DEFAULT 0)
    RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    d record;
    aid int;
BEGIN
    FOR i IN 1 .. rounds LOOP
        SELECT * INTO d FROM bandit_select(exp);
        SELECT arm_id INTO aid FROM bandit.arm a JOIN bandit.experiment e ON e.id = a.experiment_id
         WHERE e.name = exp AND a.name = d.arm;
        PERFORM bandit_reward(d.decision_id, (random() < levels[aid])::int);
        IF refresh_every > 0 AND i % refresh_every = 0 THEN
            PERFORM bandit_refresh(exp);
        END IF;
    END LOOP;
END $$;
"""


def parse(text):
    """'(mean=1, kappa=2, ..., n=3)' -> dict of floats."""
    return {k.strip(): float(v) for k, v in (f.split("=") for f in text.strip("()").split(","))}


def normal_reference(xs):
    """NIG posterior of xs from the default prior: n, fsum mean, two-pass m2."""
    xs = [float(x) for x in xs]
    m0, k0, a0, b0 = PRIOR
    n = len(xs)
    if n == 0:
        return {"mean": m0, "kappa": k0, "alpha": a0, "beta": b0, "n": 0}
    mean = math.fsum(xs) / n
    m2 = math.fsum((x - mean) ** 2 for x in xs)
    kappa = k0 + n
    return {"mean": m0 + (mean - m0) * n / kappa, "kappa": kappa, "alpha": a0 + n / 2,
            "beta": b0 + m2 / 2 + k0 * n * (mean - m0) ** 2 / (2 * kappa), "n": n}


def beta_reference(rs):
    rs = [float(r) for r in rs]
    return {"alpha": 1 + math.fsum(rs), "beta": 1 + math.fsum(1 - r for r in rs), "n": len(rs)}


def worst_rel(got, want):
    """Largest relative difference over the fields; inf when n differs."""
    if got["n"] != want["n"]:
        return math.inf
    return max(abs(got[k] - want[k]) / max(abs(want[k]), 1e-300) for k in want if k != "n")


def srm_reference(stream):
    """The statistic of bandit_srm, written separately.  stream: (arm_id,
    propensity, reset, state_version) in time order.  Predicted probabilities
    h: an arm chosen earlier in the same state version has its logged
    propensity; the others their latest propensity, scaled down to fit in
    what those leave of 1; S = sum of onehot * h / p - h; V = sum of
    diag(h) - h h^T; with P = I - 11^T / k the statistic S^T (P V P)^+ S
    with rank(P V P) degrees of freedom."""
    arms = sorted({a for a, _, _, _ in stream})
    idx = {a: i for i, a in enumerate(arms)}
    k = len(arms)
    last = np.zeros(k)
    seen = np.zeros(k, dtype=bool)
    version = None
    excess = np.zeros(k)
    expected = np.zeros(k)
    cov = np.zeros((k, k))
    decisions = 0
    for arm, p, reset, v in stream:
        i = idx[arm]
        if reset:
            last[i] = 0.0
            seen[i] = False
            continue
        if p >= 1.0:
            continue
        if v != version:
            version = v
            seen[:] = False
        h = np.where(seen, last, 0.0)
        rest, stale = max(1.0 - h.sum(), 0.0), last[~seen].sum()
        if stale > 0:
            h[~seen] = last[~seen] * min(1.0, rest / stale)
        if h.sum() > 1:
            h = h / h.sum()
        if h.sum() > 0:
            onehot = np.zeros(k)
            onehot[i] = 1.0
            excess += onehot * h / p - h
            expected += h
            cov += np.diag(h) - np.outer(h, h)
        last[i] = p
        seen[i] = True
        decisions += 1
    keep = expected > 0
    if keep.sum() < 2:
        return int(keep.sum()), decisions, None, None
    s, v = excess[keep], cov[np.ix_(keep, keep)]
    proj_off = np.eye(len(s)) - 1.0 / len(s)
    w, vec = np.linalg.eigh(proj_off @ v @ proj_off)
    good = w > 1e-9 * w.max()
    proj = vec[:, good].T @ s
    return int(keep.sum()), decisions, float(np.sum(proj ** 2 / w[good])), int(good.sum())


def srm_stream(db, exp):
    return db.q("""
        SELECT s.arm_id, s.propensity, s.reset, s.state_version FROM (
            SELECT d.decided_at AS at, 1 AS o, d.id, d.arm_id, d.propensity, false AS reset, d.state_version
              FROM bandit.decision d JOIN bandit.experiment e ON e.id = d.experiment_id
             WHERE e.name = %(e)s AND d.kind = 'policy'
            UNION ALL
            SELECT ev.at, 0, ev.id, a.arm_id, NULL, true, NULL
              FROM bandit.event ev JOIN bandit.arm a ON a.experiment_id = ev.experiment_id AND a.name = ev.arm
             WHERE ev.experiment_name = %(e)s AND ev.what IN ('arm disabled', 'guardrail tripped')) s
         ORDER BY s.at, s.o, s.id""", {"e": exp})


def check_merge(tap, db):
    rng = np.random.default_rng(71)
    x = 1e6 + rng.normal(0, 1, 20000)
    r = rng.random(20000)
    half = np.arange(20000) % 2
    db.q("CREATE TABLE big (half int, x float8, r float8)")
    db.cur.executemany("INSERT INTO big VALUES (%s, %s, %s)",
                       [(int(h), float(a), float(b)) for h, a, b in zip(half, x, r)])
    got_n, got_b, whole_n = db.q("""
        SELECT (normal_posterior_agg(x) FILTER (WHERE half = 0) + normal_posterior_agg(x) FILTER (WHERE half = 1))::text,
               (beta_posterior_agg(r) FILTER (WHERE half = 0) + beta_posterior_agg(r) FILTER (WHERE half = 1))::text,
               normal_posterior_agg(x)::text
          FROM big""")[0]
    err_n = worst_rel(parse(got_n), normal_reference(x))
    err_b = worst_rel(parse(got_b), beta_reference(r))
    err_whole = worst_rel(parse(whole_n), normal_reference(x))
    tap.check(err_n <= 1e-12, f"normal merge of two halves of 1e6 + N(0, 1) (20,000 rows) = the whole's posterior "
              f"computed here: max relative error {err_n:.2e} (tol 1e-12; the aggregate of the whole: {err_whole:.2e})")
    tap.check(err_b <= 1e-12, f"beta merge of two halves = the whole's posterior: max relative error {err_b:.2e} (tol 1e-12)")


def check_windows(tap, db):
    rng = np.random.default_rng(72)
    n = 3000
    level = np.cumsum(rng.normal(0, 0.05, n)) + 50
    level[1000:1400] += 1e6
    level[2200:2300] -= 3e5
    x = level + rng.normal(0, 1, n)
    r = rng.random(n)
    minutes = np.cumsum(rng.integers(0, 4, n))   # ties included (RANGE peers)
    db.q("CREATE TABLE series (i int, t timestamptz, x float8, r float8)")
    db.cur.executemany("INSERT INTO series VALUES (%s, timestamptz '2026-01-01' + %s * interval '1 minute', %s, %s)",
                       [(i, int(m), float(a), float(b)) for i, (m, a, b) in enumerate(zip(minutes, x, r))])
    rows = db.q("""
        SELECT i, normal_posterior_agg(x) OVER (ORDER BY i ROWS 50 PRECEDING)::text,
               beta_posterior_agg(r) OVER (ORDER BY i ROWS 50 PRECEDING)::text,
               normal_posterior_agg(x) OVER (ORDER BY t RANGE interval '2 hours' PRECEDING)::text,
               beta_posterior_agg(r) OVER (ORDER BY t RANGE interval '2 hours' PRECEDING)::text
          FROM series ORDER BY i""")
    worst = {"rows normal": 0.0, "rows beta": 0.0, "range normal": 0.0, "range beta": 0.0}
    for i, nrow, brow, nrange, brange in rows:
        lo = max(0, i - 50)
        worst["rows normal"] = max(worst["rows normal"], worst_rel(parse(nrow), normal_reference(x[lo:i + 1])))
        worst["rows beta"] = max(worst["rows beta"], worst_rel(parse(brow), beta_reference(r[lo:i + 1])))
        frame = (minutes >= minutes[i] - 120) & (minutes <= minutes[i])
        worst["range normal"] = max(worst["range normal"], worst_rel(parse(nrange), normal_reference(x[frame])))
        worst["range beta"] = max(worst["range beta"], worst_rel(parse(brange), beta_reference(r[frame])))
    for frame in ("rows", "range"):
        desc = "ROWS 50 PRECEDING" if frame == "rows" else "RANGE '2 hours' PRECEDING"
        e = worst[frame + " normal"]
        tap.check(e <= 1e-11, f"normal_posterior_agg OVER ({desc}) on a series with jumps of 1e6: every row equals "
                  f"its frame's posterior computed here, max relative error {e:.2e} (tol 1e-11)")
        e = worst[frame + " beta"]
        tap.check(e <= 1e-13, f"beta_posterior_agg OVER ({desc}): max relative error {e:.2e} (tol 1e-13)")


def check_srm_reference(tap, db):
    db.q("SET bandit.seed = 4101")
    db.q("SELECT setseed(0.3)")
    db.q("""SELECT bandit_create('srm_ref', ARRAY['a', 'b', 'c', 'd'], 'thompson', '{"sticky": true}')""")
    db.q("SELECT pg_temp.play('srm_ref', 300, ARRAY[0.3, 0.4, 0.45, 0.5])")
    db.q("SELECT bandit_set_arm_enabled('srm_ref', 'd', false)")
    db.q("SELECT pg_temp.play('srm_ref', 200, ARRAY[0.3, 0.4, 0.45, 0.5])")
    db.q("SELECT bandit_pause('srm_ref', 'b')")
    db.q("SELECT pg_temp.play('srm_ref', 20, ARRAY[0.3, 0.4, 0.45, 0.5])")
    db.q("SELECT bandit_resume('srm_ref')")
    db.q("SELECT bandit_set_arm_enabled('srm_ref', 'd', true)")
    for _ in range(2):  # the second time, sticky repeats
        db.q("SELECT s.* FROM generate_series(1, 30) g, LATERAL bandit_select('srm_ref', NULL, 'unit-' || g) s")
    db.q("SELECT pg_temp.play('srm_ref', 200, ARRAY[0.3, 0.4, 0.45, 0.5])")
    kinds = dict(db.q("""SELECT kind, count(*) FROM bandit.decision d JOIN bandit.experiment e ON e.id = d.experiment_id
                         WHERE e.name = 'srm_ref' GROUP BY kind"""))
    arms, decisions, chi2, p = db.q("SELECT * FROM bandit_srm('srm_ref')")[0]
    ref_arms, ref_decisions, ref_chi2, ref_df = srm_reference(srm_stream(db, "srm_ref"))
    tap.check(kinds.get("paused", 0) == 20 and kinds.get("repeat", 0) == 30,
              f"the log has paused decisions and sticky repeats: {kinds}")
    tap.check((arms, decisions) == (ref_arms, ref_decisions) and ref_df == arms - 1,
              f"bandit_srm: arms {arms}, decisions {decisions}; computed here: {ref_arms}, {ref_decisions}, df {ref_df}")
    rel = abs(chi2 - ref_chi2) / ref_chi2
    tap.check(rel <= 1e-9, f"bandit_srm chi_square {chi2:.10g} = {ref_chi2:.10g} computed here (relative {rel:.1e}, tol 1e-9)")
    ref_p = stats.chi2.sf(chi2, arms - 1)
    rel = abs(p - ref_p) / ref_p
    tap.check(rel <= 1e-12, f"bandit_srm p_value = scipy.stats.chi2.sf(chi_square, arms - 1): {p:.17g} vs {ref_p:.17g} "
              f"(relative {rel:.1e}, tol 1e-12)")


def srm_one(args):
    seed, policy, params, refresh = args
    conn = connect(DBNAME)
    try:
        db = Db(conn)
        db.q(PLAY)
        db.q("SET bandit.seed = %s", (seed,))
        db.q("SELECT setseed(%s)", ((seed % 1000) / 1000.0,))
        name = f"srm_null_{seed}"
        db.q("SELECT bandit_create(%s, ARRAY['a', 'b', 'c'], %s, %s)", (name, policy, params))
        db.q("SELECT pg_temp.play(%s, 400, ARRAY[0.3, 0.35, 0.4], %s)", (name, refresh))
        return db.q("SELECT p_value FROM bandit_srm(%s)", (name,))[0][0]
    finally:
        conn.close()


def check_srm_null(tap):
    jobs = ([(s, "thompson", "{}", 0) for s in range(100)]
            + [(s, "thompson", '{"update": "batch"}', 40) for s in range(100, 150)]
            + [(s, "softmax", "{}", 0) for s in range(150, 200)])
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        pvalues = np.array(list(pool.map(srm_one, jobs)))
    ks = stats.kstest(pvalues, "uniform").pvalue
    deciles = np.histogram(pvalues, bins=10, range=(0, 1))[0]
    tap.check(ks > 0.001 and deciles.min() >= 7 and deciles.max() <= 35,
              f"bandit_srm under a correct log, 200 seeds (Thompson online, batch, softmax): p-values uniform, "
              f"KS p = {ks:.3f} (> 0.001), deciles {deciles.tolist()} (each 7..35)")


def check_srm_corrupted(tap, db):
    for name, policy, params, rounds in (("srm_bad_uniform", "uniform", "{}", 3000),
                                         ("srm_bad_ts", "thompson", "{}", 6000)):
        rng = np.random.default_rng(73)
        db.q("SET bandit.seed = 5")
        db.q("SELECT setseed(0.7)")
        db.q("SELECT bandit_create(%s, ARRAY['a', 'b', 'c'], %s, %s)", (name, policy, params))
        db.q("SELECT pg_temp.play(%s, %s, ARRAY[0.3, 0.35, 0.4])", (name, rounds))
        before = db.q("SELECT p_value FROM bandit_srm(%s)", (name,))[0][0]
        ids = [i for (i,) in db.q("""SELECT d.id FROM bandit.decision d JOIN bandit.experiment e ON e.id = d.experiment_id
                                      WHERE e.name = %s ORDER BY d.id""", (name,))]
        chosen = [int(i) for i in rng.choice(ids, len(ids) // 10, replace=False)]
        db.q("""UPDATE bandit.decision d SET arm_id = a.arm_id FROM bandit.arm a
                 WHERE a.experiment_id = d.experiment_id AND a.name = 'a' AND d.id = ANY(%s)""", (chosen,))
        after = db.q("SELECT p_value FROM bandit_srm(%s)", (name,))[0][0]
        tap.check(before > 0.001 and after < 1e-6,
                  f"bandit_srm, {policy}, {rounds} decisions: p = {before:.3g} on the log as written, "
                  f"{after:.3g} after 10% of the decisions were rewritten to arm 'a' (want > 0.001, then < 1e-6)")


def check_drift(tap, db):
    rng = np.random.default_rng(74)
    db.q("SET bandit.seed = 9")
    db.q("""SELECT bandit_create('drift_g', ARRAY['a', 'b', 'c'], 'uniform', '{"reward_type": "gaussian"}')""")
    db.q("SELECT bandit_create('drift_b', ARRAY['a', 'b', 'c'], 'uniform')")
    for name, gaussian in (("drift_g", True), ("drift_b", False)):
        for _ in range(900):
            did, arm, _ = db.q("SELECT * FROM bandit_select(%s)", (name,))[0]
            shift = {"a": 0.0, "b": 0.3, "c": 0.0}[arm]
            reward = (rng.normal(10 + shift, 2) if gaussian
                      else float(rng.random() < 0.4 + shift / 3))
            db.q("SELECT bandit_reward(%s, %s)", (did, reward))
        # the first two thirds of the decisions happened days ago (test data)
        db.q("""UPDATE bandit.decision d SET decided_at = d.decided_at - interval '3 days'
                  FROM bandit.experiment e WHERE e.id = d.experiment_id AND e.name = %s
                   AND d.id < (SELECT percentile_disc(2.0 / 3) WITHIN GROUP (ORDER BY id) FROM bandit.decision
                                WHERE experiment_id = e.id)""", (name,))
        log = db.q("""SELECT a.name, r.reward, d.decided_at >= now() - interval '1 day'
                        FROM bandit.decision d JOIN bandit.arm a USING (experiment_id, arm_id)
                        JOIN bandit.reward r ON r.decision_id = d.id JOIN bandit.experiment e ON e.id = d.experiment_id
                       WHERE e.name = %s""", (name,))
        got = {arm: (rm, em, p) for arm, rm, em, p in db.q("SELECT * FROM bandit_drift(%s, '1 day')", (name,))}
        bad = []
        worst_p = worst_m = 0.0
        for arm in ("a", "b", "c"):
            recent = [r for a, r, is_recent in log if a == arm and is_recent]
            earlier = [r for a, r, is_recent in log if a == arm and not is_recent]
            ref_p = stats.ttest_ind(recent, earlier, equal_var=False).pvalue
            rm, em, p = got[arm]
            worst_m = max(worst_m, abs(rm - math.fsum(recent) / len(recent)) / abs(rm),
                          abs(em - math.fsum(earlier) / len(earlier)) / abs(em))
            worst_p = max(worst_p, abs(p - ref_p) / ref_p)
            if abs(p - ref_p) > 1e-10 * ref_p:
                bad.append(f"{arm}: {p!r} vs scipy {ref_p!r}")
        tap.check(not bad and worst_m <= 1e-13,
                  f"bandit_drift {'Gaussian' if gaussian else 'Bernoulli'}: p-values = scipy.stats.ttest_ind("
                  f"equal_var=False) to {worst_p:.1e} (tol 1e-10), means to {worst_m:.1e} (tol 1e-13)"
                  + (f"; {bad}" if bad else ""))
    # one recent reward for arm 'a' only: NULL there, values elsewhere
    did = db.q("""SELECT d.id FROM bandit.decision d JOIN bandit.experiment e ON e.id = d.experiment_id
                   JOIN bandit.arm a USING (experiment_id, arm_id)
                  WHERE e.name = 'drift_g' AND a.name = 'a' ORDER BY d.id DESC LIMIT 1""")[0][0]
    db.q("""UPDATE bandit.decision d SET decided_at = d.decided_at - interval '3 days'
              FROM bandit.experiment e WHERE e.id = d.experiment_id AND e.name = 'drift_g'
               AND d.arm_id = 1 AND d.id <> %s AND d.decided_at >= now() - interval '1 day'""", (did,))
    rows = db.q("SELECT arm, recent_mean IS NOT NULL, p_value IS NULL FROM bandit_drift('drift_g', '1 day') ORDER BY arm")
    tap.check(rows == [("a", True, True), ("b", True, False), ("c", True, False)],
              f"bandit_drift: an arm with a single recent reward has a mean but a NULL p-value: {rows}")


def main():
    tap = Tap()
    with scratch_database(DBNAME) as conn:
        db = Db(conn)
        db.q(PLAY)
        check_merge(tap, db)
        check_windows(tap, db)
        check_srm_reference(tap, db)
        check_srm_null(tap)
        check_srm_corrupted(tap, db)
        check_drift(tap, db)
    return tap.report()


if __name__ == "__main__":
    run_checks(main, "values_monitoring.py")
