#!/usr/bin/python3
"""The analyst notebook runs headless against generated traffic (TAP).

docs/notebooks/analyst.ipynb is what an analyst runs against a database; this
check runs it as one would, with `jupyter nbconvert --to notebook --execute`:

  * a scratch database (bandit_pytest_notebook) with the extension, and
    docs/notebooks/make_traffic.sql run in it: 6,000 Thompson-sampling
    decisions over four arms, spread over 14 days (fixed seeds, fixed dates);
  * the notebook, with PGDATABASE pointing there and PGOPTIONS '-c
    role=bandit_analyst', so that everything it does runs with the rights of
    bandit_analyst alone (the login stays PGUSER); every cell must run, in
    less than 60 seconds;
  * its five figures (image/png outputs of the cells tagged figure:NAME) are
    written to docs/notebooks/figures/NAME.png (only when they changed: the
    data, and so the pictures, are the same every run on one build);
  * the numbers it prints as JSON (the cell tagged "results") are checked
    against independent computations: the SRM chi-square from
    bandit.decision with NumPy, the posterior means from bandit.reward, the
    off-policy estimates against bandit_evaluate called directly, uniform's
    true value inside its intervals, Thompson's regret below uniform's;
  * a second run with the optional server-side functions (bandit_srm,
    bandit_timeline, bandit_regret, bandit_drift) in the other state: stand-ins
    with the signatures of issue 7 when the extension has none of them, or
    EXECUTE revoked from bandit_analyst when it has them, so that both paths
    of the notebook's optional cells run.
"""
import base64
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from scipy import stats

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from taplib import Db, Tap, run_checks, scratch_database  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NB_DIR = os.path.join(ROOT, "docs", "notebooks")
NOTEBOOK = os.path.join(NB_DIR, "analyst.ipynb")
TRAFFIC = os.path.join(NB_DIR, "make_traffic.sql")
FIGURES = os.path.join(NB_DIR, "figures")
DB = "bandit_pytest_notebook"
EXPERIMENT = "notebook_demo"
DECISIONS = 6000
TRUE_RATES = {"red": 0.04, "green": 0.05, "blue": 0.08, "grey": 0.06}   # as in make_traffic.sql
EXPECTED_FIGURES = ["allocation", "posteriors", "regret", "srm", "ope"]
OPTIONAL = ["bandit_drift", "bandit_regret", "bandit_srm", "bandit_timeline"]
TIME_LIMIT = 60
PNG_LIMIT = 200_000
tap = Tap()
check = tap.check

# Stand-ins with the signatures of issue 7, for the run that exercises the
# notebook's cells for the server-side functions before they exist.
STUBS = """
CREATE FUNCTION bandit_srm(experiment text)
    RETURNS TABLE (arms int, decisions bigint, chi_square float8, p_value float8)
    LANGUAGE sql STABLE AS $$
    SELECT count(DISTINCT l.arm)::int, count(*), 0::float8, 1::float8
      FROM bandit_log l WHERE l.experiment = $1 $$;
CREATE FUNCTION bandit_timeline(experiment text, bucket interval)
    RETURNS TABLE (bucket timestamptz, arm text, decisions bigint, share float8, rewards bigint,
                   mean_reward float8)
    LANGUAGE sql STABLE AS $$
    SELECT date_bin($2, l.decided_at, '2000-01-01'), l.arm, count(*),
           count(*)::float8 / sum(count(*)) OVER (PARTITION BY date_bin($2, l.decided_at, '2000-01-01')),
           count(l.reward), avg(l.reward)
      FROM bandit_log l WHERE l.experiment = $1 GROUP BY 1, 2 ORDER BY 1, 2 $$;
CREATE FUNCTION bandit_regret(experiment text)
    RETURNS TABLE (bucket timestamptz, decisions bigint, regret float8, cumulative_regret float8)
    LANGUAGE sql STABLE AS $$
    SELECT b, n, 0.01 * n, 0.01 * sum(n) OVER (ORDER BY b)
      FROM (SELECT date_trunc('day', l.decided_at) AS b, count(*) AS n
              FROM bandit_log l WHERE l.experiment = $1 GROUP BY 1) s ORDER BY b $$;
CREATE FUNCTION bandit_drift(experiment text, recent interval)
    RETURNS TABLE (arm text, recent_mean float8, earlier_mean float8, p_value float8)
    LANGUAGE sql STABLE AS $$
    SELECT l.arm, avg(l.reward) FILTER (WHERE l.decided_at > m.t - $2),
           avg(l.reward) FILTER (WHERE l.decided_at <= m.t - $2), 1::float8
      FROM bandit_log l,
           (SELECT max(decided_at) AS t FROM bandit_log WHERE experiment = $1) m
     WHERE l.experiment = $1 GROUP BY l.arm ORDER BY l.arm $$;
REVOKE ALL ON FUNCTION bandit_srm(text), bandit_timeline(text, interval), bandit_regret(text),
    bandit_drift(text, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bandit_srm(text), bandit_timeline(text, interval), bandit_regret(text),
    bandit_drift(text, interval) TO bandit_analyst;
"""


def jupyter_command():
    """`jupyter nbconvert` of the interpreter running this check (Debian's), with its kernel."""
    if any(importlib.util.find_spec(m) is None for m in ("jupyter_core", "nbconvert", "ipykernel")):
        return None
    return [sys.executable, "-m", "jupyter", "nbconvert"]


def run_notebook(outdir, label):
    """Execute the notebook headless; (returncode, seconds, executed notebook or None, stderr)."""
    env = dict(os.environ)
    env["PGDATABASE"] = DB
    env["PGOPTIONS"] = (env.get("PGOPTIONS", "") + " -c role=bandit_analyst").strip()
    env.pop("BANDIT_EXPERIMENT", None)          # the notebook picks the busiest experiment
    env.pop("BANDIT_BUCKET", None)
    env.pop("MPLBACKEND", None)                 # the kernel's inline backend draws the figures
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    env["JUPYTER_RUNTIME_DIR"] = os.path.join(outdir, "runtime")
    out = os.path.join(outdir, label)
    cmd = jupyter_command() + ["--to", "notebook", "--execute",
                               "--ExecutePreprocessor.timeout=300",
                               "--output-dir", out, "--output", "analyst.ipynb", NOTEBOOK]
    start = time.time()
    proc = subprocess.run(cmd, env=env, cwd=outdir, capture_output=True, text=True, timeout=600)
    seconds = time.time() - start
    path = os.path.join(out, "analyst.ipynb")
    nb = None
    if os.path.exists(path):
        with open(path) as f:
            nb = json.load(f)
    return proc.returncode, seconds, nb, proc.stderr


def one_line(text, limit=600):
    """A TAP diagnostic fits on one line."""
    return " ".join(str(text).split())[:limit] or None


def code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def text_of(output):
    if output["output_type"] == "stream":
        return "".join(output["text"])
    return "".join(output.get("data", {}).get("text/plain", ""))


def cell_text(nb, cell_id):
    for c in code_cells(nb):
        if c.get("id") == cell_id:
            return "".join(text_of(o) for o in c.get("outputs", []))
    return None


def results_of(nb):
    for c in code_cells(nb):
        if "results" in c.get("metadata", {}).get("tags", []):
            return json.loads("".join(text_of(o) for o in c.get("outputs", [])
                                      if o["output_type"] == "stream"))
    return None


def figures_of(nb):
    """{name: png bytes} of the cells tagged figure:NAME."""
    found = {}
    for c in code_cells(nb):
        names = [t.split(":", 1)[1] for t in c.get("metadata", {}).get("tags", [])
                 if t.startswith("figure:")]
        pngs = [o["data"]["image/png"] for o in c.get("outputs", [])
                if o["output_type"] in ("display_data", "execute_result") and "image/png" in o.get("data", {})]
        for name in names:
            if pngs:
                found[name] = base64.b64decode(pngs[0])
    return found


def errors_of(nb):
    errs = []
    for c in code_cells(nb):
        for o in c.get("outputs", []):
            if o["output_type"] == "error":
                errs.append(f"{c.get('id')}: {o.get('ename')}: {o.get('evalue')}")
        if c.get("execution_count") is None:
            errs.append(f"{c.get('id')}: not executed")
    return errs


def check_run(label, rc, seconds, nb, stderr):
    """The checks every run shares; True when the notebook ran through."""
    ok = check(rc == 0 and nb is not None, f"{label}: jupyter nbconvert --execute ran every cell",
               None if rc == 0 else one_line(f"exit {rc}: " + " | ".join(stderr.strip().splitlines()[-8:]), 1500))
    if nb is None:
        return False
    errs = errors_of(nb)
    check(not errs, f"{label}: every code cell executed, none with an error", one_line("; ".join(errs[:5]), 1500))
    check(seconds < TIME_LIMIT, f"{label}: the notebook ran in {seconds:.1f} s (< {TIME_LIMIT} s)")
    failed = [cid for cid in ("timeline-optional", "regret-optional", "srm-optional", "drift-optional")
              if " failed: " in (cell_text(nb, cid) or "")]
    check(not failed, f"{label}: the cells for the optional server-side functions ran without an error",
          one_line("; ".join(f"{cid}: {cell_text(nb, cid)}" for cid in failed)))
    return ok and not errs


def independent_srm(db):
    """The notebook's SRM statistic, computed here from bandit.decision (as the superuser)."""
    rows = db.q("""SELECT d.arm_id, d.propensity FROM bandit.decision d
                     JOIN bandit.experiment e ON e.id = d.experiment_id
                    WHERE e.name = %s AND d.kind = 'policy'""" if has_kind(db) else
                """SELECT d.arm_id, d.propensity FROM bandit.decision d
                     JOIN bandit.experiment e ON e.id = d.experiment_id WHERE e.name = %s""",
                (EXPERIMENT,))
    arm = np.array([r[0] for r in rows])
    p = np.array([r[1] for r in rows])
    n = len(arm)
    arms = sorted(set(arm))
    z = np.array([np.sum(1 / p[arm == a]) - n for a in arms])
    v = np.array([np.sum((1 - p[arm == a]) / p[arm == a] ** 2) for a in arms])
    counts = np.array([np.sum(arm == a) for a in arms])
    keep = [i for i in range(len(arms)) if i != int(np.argmax(counts))]
    cov = np.diag(v[keep] + n) - n
    x2 = float(z[keep] @ np.linalg.solve(cov, z[keep]))
    return n, x2, float(stats.chi2.sf(x2, len(arms) - 1))


def has_kind(db):
    return db.one("""SELECT count(*) FROM pg_attribute WHERE attrelid = 'bandit.decision'::regclass
                      AND attname = 'kind' AND NOT attisdropped""") == 1


def close(a, b, rel=1e-9):
    return a is not None and b is not None and abs(a - b) <= rel * max(1.0, abs(a), abs(b))


def write_figures(figs):
    """Write the figures to docs/notebooks/figures/NAME.png where they changed; the names written."""
    os.makedirs(FIGURES, exist_ok=True)
    written = []
    for name, png in figs.items():
        path = os.path.join(FIGURES, f"{name}.png")
        old = None
        if os.path.exists(path):
            with open(path, "rb") as f:
                old = f.read()
        if old != png:
            with open(path, "wb") as f:
                f.write(png)
            written.append(name)
    return written


def main():
    if jupyter_command() is None:
        check(False, "jupyter nbconvert is installed",
              "install jupyter-nbconvert python3-ipykernel python3-pandas python3-matplotlib")
        return tap.report()
    with scratch_database(DB) as conn, tempfile.TemporaryDirectory(prefix="bandit-notebook-") as tmp:
        db = Db(conn)
        env = dict(os.environ, PGDATABASE=DB)
        start = time.time()
        gen = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", TRAFFIC],
                             env=env, capture_output=True, text=True, timeout=600)
        n, rewarded, days = db.q("""
            SELECT count(*), count(r.decision_id),
                   extract(epoch FROM max(d.decided_at) - min(d.decided_at)) / 86400
              FROM bandit.decision d JOIN bandit.experiment e ON e.id = d.experiment_id
              LEFT JOIN bandit.reward r ON r.decision_id = d.id
             WHERE e.name = %s""", (EXPERIMENT,))[0]
        check(gen.returncode == 0 and n == DECISIONS and rewarded == DECISIONS and 13.9 < days <= 14,
              f"make_traffic.sql: {n} decisions, {rewarded} rewarded, over {days:.2f} days "
              f"({time.time() - start:.1f} s)",
              None if gen.returncode == 0 else one_line(gen.stderr[-600:]))

        # 1. the extension as it is
        installed = [f for f in OPTIONAL if db.one("SELECT count(*) FROM pg_proc WHERE proname = %s", (f,))]
        rc, seconds, nb, stderr = run_notebook(tmp, "installed")
        if check_run("as installed", rc, seconds, nb, stderr):
            who = cell_text(nb, "setup") or ""
            check("bandit_analyst" in who, "the notebook ran with the rights of bandit_analyst (current_user)",
                  None if "bandit_analyst" in who else " ".join(who.split())[:300])

            figs = figures_of(nb)
            for name in EXPECTED_FIGURES:
                png = figs.get(name)
                check(png is not None and png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) < PNG_LIMIT,
                      f"figure {name}: an image/png output, {len(png) if png else 0} bytes (< {PNG_LIMIT})")
            written = write_figures({k: v for k, v in figs.items() if k in EXPECTED_FIGURES})
            check(all(os.path.exists(os.path.join(FIGURES, f"{name}.png")) for name in EXPECTED_FIGURES),
                  f"figures in docs/notebooks/figures ({', '.join(written) or 'none'} changed)")

            res = results_of(nb) or {}
            check(res.get("experiment") == EXPERIMENT and res.get("decisions") == DECISIONS
                  and res.get("optional_functions") == installed,
                  f"results: experiment {res.get('experiment')!r} chosen as the busiest, "
                  f"{res.get('decisions')} decisions, optional functions {res.get('optional_functions')}")
            check(res.get("bucket") == "12 hours" and res.get("buckets") == 28,
                  f"allocation: {res.get('buckets')} buckets of {res.get('bucket')} over 14 days")

            # posterior means against Beta(1 + sum r, 1 + sum (1 - r)) from bandit.reward
            direct = dict(db.q("""
                SELECT a.name, (1 + sum(r.reward)) / (2 + count(*))
                  FROM bandit.reward r JOIN bandit.arm a USING (experiment_id, arm_id)
                  JOIN bandit.experiment e ON e.id = r.experiment_id
                 WHERE e.name = %s GROUP BY a.name""", (EXPERIMENT,)))
            got = res.get("posterior_mean", {})
            same = set(got) == set(direct) and all(abs(got[a] - direct[a]) < 1e-6 for a in direct)
            check(same, "posterior means equal (1 + sum r) / (2 + n) from bandit.reward",
                  None if same else f"notebook {got}, direct {direct}")

            # regret: Thompson sampling well below uniform allocation
            ratio = res.get("regret_ratio")
            check(ratio is not None and 0 < ratio < 0.5 and res.get("best_arm") == "blue",
                  f"cumulative expected regret: policy / uniform = {ratio:.3f} (< 0.5), best arm "
                  f"{res.get('best_arm')}" if ratio is not None else "cumulative expected regret reported")

            # SRM against an independent computation
            n_srm, x2, p = independent_srm(db)
            check(res.get("srm_decisions") == n_srm and close(res.get("srm_chi_square"), x2)
                  and close(res.get("srm_p_value"), p),
                  f"SRM: chi-square {res.get('srm_chi_square')} equals NumPy's {x2} over bandit.decision")
            check(p > 1e-3, f"SRM: a correct log is not flagged (p = {p:.4g} > 0.001)")

            # OPE: the numbers bandit_evaluate gives, and uniform's true value inside its intervals
            ope = res.get("ope", {})
            direct = {}
            for label, policy, params in (("uniform", "uniform", "{}"),
                                          ('epsilon_greedy {"epsilon": 0.1}', "epsilon_greedy",
                                           '{"epsilon": 0.1}')):
                for est, estimate, lo, hi in db.q(
                        "SELECT estimator, estimate, ci_low, ci_high FROM bandit_evaluate(%s, %s, %s)",
                        (EXPERIMENT, policy, params)):
                    direct[(label, est)] = (estimate, lo, hi)
            same = all(close(ope.get(label, {}).get(est, {}).get("estimate"), v[0], 1e-12)
                       and close(ope.get(label, {}).get(est, {}).get("ci_low"), v[1], 1e-12)
                       for (label, est), v in direct.items())
            check(same and len(direct) == 10,
                  "OPE: two candidates x five estimators, equal to bandit_evaluate called directly")
            truth = sum(TRUE_RATES.values()) / len(TRUE_RATES)
            inside = [est for est in ("ips", "snips", "dr", "sndr")
                      if ope.get("uniform", {}).get(est, {}).get("ci_low", 1) <= truth
                      <= ope.get("uniform", {}).get(est, {}).get("ci_high", 0)]
            check(len(inside) == 4, f"OPE: uniform's true value {truth:.4f} is inside its IPS, SNIPS, DR "
                                    f"and SNDR intervals (inside: {', '.join(inside) or 'none'})")

        # 2. the optional functions in the other state
        if installed:
            signatures = [r[0] for r in db.q(
                "SELECT oid::regprocedure::text FROM pg_proc WHERE proname = ANY(%s)", (OPTIONAL,))]
            db.q(f"REVOKE EXECUTE ON FUNCTION {', '.join(signatures)} FROM bandit_analyst, PUBLIC")
            label, expect = "optional functions revoked", []
        else:
            conn.cursor().execute(STUBS)
            label, expect = "optional functions stubbed", OPTIONAL
        rc, seconds, nb, stderr = run_notebook(tmp, "other")
        if check_run(label, rc, seconds, nb, stderr):
            res = results_of(nb) or {}
            ok = res.get("optional_functions") == expect
            if expect:
                ok = ok and res.get("timeline_decisions") == DECISIONS and res.get("server_srm_p_value") == 1 \
                    and res.get("server_regret_last") is not None
            check(ok, f"{label}: the notebook used exactly {expect or 'none of them'}",
                  None if ok else json.dumps({k: res.get(k) for k in ("optional_functions", "timeline_decisions",
                                                                       "server_srm_p_value", "server_regret_last")}))
    return tap.report()


if __name__ == "__main__":
    run_checks(main, "notebook.py")
