#!/usr/bin/python3
"""Deterministic draws with `unit` (TAP).

Spec: with `unit` given, a hash of (experiment, unit, state version) gives
u in [0,1) which walks the probability vector, so a unit sees the same arm
while the state is unchanged and the logged propensity is exact.

Checks:
  * same unit + same state -> same arm: twice over 2,000 units, with a
    different bandit.seed and from a second session the second time;
  * the state version is part of the hash: after a state change that leaves
    the uniform probabilities as they were, a unit keeps its arm only about
    as often as chance (sum p_i^2 = 1/4); likewise two experiments in
    identical states assign units independently.  Tolerance: 4 binomial
    standard errors around 1/4 (2,000 units: +-0.039);
  * over 20,000 distinct units in a fixed non-uniform state (Thompson and
    epsilon-greedy, batch experiments) the arm frequencies fit the
    propensities: chi-square goodness of fit, p-value from SciPy > 0.001;
  * every decision is logged with exactly bandit_policy_prob of its arm.

Unit names are fixed and the database is new (experiment ids start at 1),
so the hashes, and hence every outcome, are the same on every run; numpy
default_rng(seed) makes the simulated rewards.  The database
bandit_pytest_units is created and dropped here.
"""
import math
import os
import sys

import numpy as np
from scipy import stats

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from taplib import Tap, connect, run_checks, scratch_database  # noqa: E402

DB = "bandit_pytest_units"
tap = Tap()
check = tap.check



def q(cur, sql, args=None):
    cur.execute(sql, args)
    return cur.fetchall() if cur.description else None


def assign(cur, exp, units):
    """{unit: (arm, propensity, state_version)} from one bandit_select per unit."""
    rows = q(cur, "SELECT u, (s).decision_id, (s).arm, (s).propensity FROM "
                  "(SELECT u, bandit_select(%s, NULL, u) AS s FROM unnest(%s::text[]) u) x", (exp, units))
    # (the decisions are visible to the next statement, not to the one that made them)
    version = dict(q(cur, "SELECT id, state_version FROM bandit.decision WHERE id = ANY(%s)",
                     ([d for _, d, _, _ in rows],)))
    return {u: (arm, p, version[d]) for u, d, arm, p in rows}


def probs(cur, exp):
    return dict(q(cur, "SELECT a.name, bandit_policy_prob(%s, a.name) FROM bandit.arm a "
                       "JOIN bandit.experiment e ON e.id = a.experiment_id WHERE e.name = %s", (exp, exp)))


def reward_round(cur, rng, exp, n, rates):
    """n selections in the current state, rewarded Bernoulli(rates[arm]), then refresh."""
    rows = q(cur, "SELECT (s).decision_id, (s).arm FROM (SELECT bandit_select(%s) AS s "
                  "FROM generate_series(1, %s)) x", (exp, n))
    ids = [d for d, _ in rows]
    rewards = [float(rng.random() < rates[a]) for _, a in rows]
    q(cur, "SELECT bandit_reward(d, r) FROM unnest(%s::bigint[], %s::float8[]) t(d, r)", (ids, rewards))
    q(cur, "SELECT bandit_refresh(%s)", (exp,))


def chi_square_fit(cur, exp, n_units, label):
    p = probs(cur, exp)
    units = [f"{exp}-member-{i}" for i in range(n_units)]
    got = assign(cur, exp, units)
    arms = sorted(p)
    observed = np.array([sum(1 for a, _, _ in got.values() if a == arm) for arm in arms])
    expected = np.array([p[arm] * n_units for arm in arms])
    stat, pvalue = stats.chisquare(observed, expected)
    check(len(got) == n_units and min(expected) >= 5 and pvalue > 0.001,
          f"{label}: arm frequencies over {n_units} units fit the propensities (chi-square p > 0.001)",
          f"observed {observed.tolist()} expected {np.round(expected, 1).tolist()} stat {stat:.3f} p {pvalue:.4f}")
    check(all(prop == p[a] for a, prop, _ in got.values()) and len({v for _, _, v in got.values()}) == 1,
          f"{label}: one state version, every decision logged with bandit_policy_prob of its arm")
    return p


def main():
    with scratch_database(DB) as conn:
        cur = conn.cursor()
        rng = np.random.default_rng(8080)

        # same unit, same state: same arm (other seed, other session)
        q(cur, "SELECT bandit_create('u_uniform', ARRAY['a', 'b', 'c', 'd'], 'uniform', '{\"update\": \"batch\"}')")
        units = [f"user-{i}" for i in range(2000)]
        q(cur, "SET bandit.seed = 1")
        first = assign(cur, "u_uniform", units)
        q(cur, "SET bandit.seed = 2")
        second = assign(cur, "u_uniform", units)
        check(all(first[u][0] == second[u][0] for u in units) and len(set(a for a, _, _ in first.values())) == 4,
              "same unit, same state: the same arm again for all 2,000 units (another bandit.seed)")
        other = connect(DB)
        third = assign(other.cursor(), "u_uniform", units)
        other.close()
        check(all(first[u][0] == third[u][0] for u in units),
              "same unit, same state: the same arm from another session")

        # the state version is in the hash
        reward_round(cur, rng, "u_uniform", 40, {"a": 0.5, "b": 0.5, "c": 0.5, "d": 0.5})
        after = assign(cur, "u_uniform", units)
        versions_moved = all(after[u][2] > first[u][2] for u in units)
        agree = np.mean([first[u][0] == after[u][0] for u in units])
        bound = 4 * math.sqrt(0.25 * 0.75 / len(units))
        check(versions_moved and abs(agree - 0.25) <= bound,
              "a new state version re-draws the units (agreement with the old arms ~ 1/4, 4 SE)",
              f"agreement {agree:.4f}, bound 0.25 +- {bound:.4f}")
        again = assign(cur, "u_uniform", units)
        check(all(after[u][0] == again[u][0] for u in units),
              "and in the new state each unit keeps its new arm")

        # the experiment is in the hash
        q(cur, "SELECT bandit_create('u_twin', ARRAY['a', 'b', 'c', 'd'], 'uniform', '{\"update\": \"batch\"}')")
        q(cur, "SELECT bandit_create('u_twin2', ARRAY['a', 'b', 'c', 'd'], 'uniform', '{\"update\": \"batch\"}')")
        t1 = assign(cur, "u_twin", units)
        t2 = assign(cur, "u_twin2", units)
        same_version = len({v for _, _, v in t1.values()} | {v for _, _, v in t2.values()}) == 1
        agree = np.mean([t1[u][0] == t2[u][0] for u in units])
        check(same_version and abs(agree - 0.25) <= bound,
              "two experiments in the same state assign units independently (agreement ~ 1/4, 4 SE)",
              f"agreement {agree:.4f}, same state version {same_version}")

        # 20,000 units against the propensities, Thompson state
        q(cur, "SET bandit.seed = 99")
        q(cur, "SELECT bandit_create('u_thompson', ARRAY['a', 'b', 'c', 'd'], 'thompson', '{\"update\": \"batch\"}')")
        reward_round(cur, rng, "u_thompson", 120, {"a": 0.2, "b": 0.3, "c": 0.35, "d": 0.25})
        p = chi_square_fit(cur, "u_thompson", 20000, "Thompson, 4 arms")
        check(min(p.values()) > 0.01 and max(p.values()) < 0.9,
              "Thompson state used above is far from uniform and from degenerate",
              f"propensities {p}")

        # 20,000 units, epsilon-greedy with a disabled arm
        q(cur, "SELECT bandit_create('u_eps', ARRAY['a', 'b', 'c', 'd', 'e'], 'epsilon_greedy', "
               "'{\"update\": \"batch\", \"epsilon\": 0.4}')")
        reward_round(cur, rng, "u_eps", 50, {"a": 0.2, "b": 0.6, "c": 0.3, "d": 0.3, "e": 0.1})
        q(cur, "SELECT bandit_set_arm_enabled('u_eps', 'e', false)")
        p = probs(cur, "u_eps")
        units_e = [f"u_eps-member-{i}" for i in range(20000)]
        got = assign(cur, "u_eps", units_e)
        arms = sorted(a for a, v in p.items() if v > 0)
        observed = np.array([sum(1 for a, _, _ in got.values() if a == arm) for arm in arms])
        expected = np.array([p[arm] * len(units_e) for arm in arms])
        stat, pvalue = stats.chisquare(observed, expected)
        never_disabled = all(a != "e" for a, _, _ in got.values())
        check(p["e"] == 0 and never_disabled and pvalue > 0.001,
              "epsilon-greedy, 4 of 5 arms enabled: 20,000 units fit the propensities (chi-square p > 0.001), "
              "none gets the disabled arm",
              f"observed {observed.tolist()} expected {np.round(expected, 1).tolist()} p {pvalue:.4f}")

    return tap.report()


if __name__ == "__main__":
    run_checks(main, "unit_draws.py")
