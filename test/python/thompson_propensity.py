#!/usr/bin/python3
"""Thompson sampling propensities against independent computations (TAP).

For experiment states built by rewarding decisions (2, 5, 20 and 100 arms;
narrow and wide posteriors; Beta-Bernoulli and Normal-Inverse-Gamma), the
propensity bandit_policy_prob gives for every arm is compared with

  * a NumPy Monte Carlo estimate from 1e6 joint posterior draws, read from
    bandit.arm (Beta(alpha, beta); for gaussian arms the Student t marginal of
    the mean: loc = mean, scale = sqrt(beta / (alpha kappa)), dof = 2 alpha):
        |p - p_mc| <= 4 sqrt(q (1 - q) / 1e6) + 1e-12,  q = max(p, p_mc)
    (4 standard errors of the estimate; q = max(p, p_mc) so that an arm with
    p ~ 1e-7, which the draws may miss entirely, is not held to 1e-12);
  * scipy.integrate.quad of f_i(x) prod_{j != i} F_j(x), to 1e-6 absolute;
  * for two Beta arms with integer parameters, the exact finite sum
        P(X_b > X_a) = sum_{i=0}^{a_b - 1} B(a_a + i, b_a + b_b)
                       / ((b_b + i) B(1 + i, b_b) B(a_a, b_a)),
    to 1e-9 absolute.
Also: the propensities of the enabled arms sum to 1 (1e-12), a disabled arm
gets 0, bandit_arm_stats.prob_best equals bandit_policy_prob (1e-12), and
bandit_select logs exactly bandit_policy_prob.

Seeds: numpy default_rng(seed) for simulated rewards and the Monte Carlo
draws, bandit.seed for the policy's draws.  The database
bandit_pytest_thompson is created and dropped here.
"""
import math
import os
import re
import sys

import numpy as np
from scipy import integrate, special

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from taplib import Tap, run_checks, scratch_database  # noqa: E402

DB = "bandit_pytest_thompson"
MC_DRAWS = 1_000_000
MC_CHUNK = 50_000

tap = Tap()
check = tap.check



def field(text, key):
    m = re.search(r"[(, ]" + key + r"=([^,)]+)", text)
    return float(m.group(1))


class Db:
    def __init__(self, conn):
        self.conn = conn
        self.cur = conn.cursor()

    def q(self, sql, args=None):
        self.cur.execute(sql, args)
        return self.cur.fetchall() if self.cur.description else None

    def one(self, sql, args=None):
        return self.q(sql, args)[0][0]


def build(db, rng, name, arms, rates, decisions, params, reward_share=None, gaussian_sd=None):
    """A batch experiment whose state comes from rewarding decisions.

    `decisions` selections are made in the prior state (so arms are picked
    about evenly); the decision on arm i is rewarded with probability
    reward_share[i] (default 1), with Bernoulli(rates[i]) or, when
    gaussian_sd is set, N(rates[i], gaussian_sd); then one refresh."""
    db.q("SELECT bandit_create(%s, %s, 'thompson', %s)", (name, arms, params))
    rows = db.q("SELECT (s).decision_id, (s).arm FROM "
                "(SELECT bandit_select(%s) AS s FROM generate_series(1, %s)) q", (name, decisions))
    index = {a: i for i, a in enumerate(arms)}
    ids, rewards = [], []
    for decision_id, arm in rows:
        i = index[arm]
        if reward_share is not None and rng.random() >= reward_share[i]:
            continue
        if gaussian_sd is None:
            r = float(rng.random() < rates[i])
        else:
            r = float(rng.normal(rates[i], gaussian_sd))
        ids.append(decision_id)
        rewards.append(r)
    db.q("SELECT bandit_reward(d, r) FROM unnest(%s::bigint[], %s::float8[]) t(d, r)", (ids, rewards))
    folded = db.one("SELECT bandit_refresh(%s)", (name,))
    assert folded == len(ids), (folded, len(ids))


def state(db, name):
    """[(arm, enabled, kind, params)] read from bandit.arm."""
    rows = db.q("SELECT a.name, a.enabled, a.beta::text, a.normal::text FROM bandit.arm a "
                "JOIN bandit.experiment e ON e.id = a.experiment_id WHERE e.name = %s ORDER BY a.arm_id",
                (name,))
    out = []
    for arm, enabled, beta, normal in rows:
        if beta is not None:
            out.append((arm, enabled, "beta", (field(beta, "alpha"), field(beta, "beta"))))
        else:
            mean, kappa, alpha, b = (field(normal, k) for k in ("mean", "kappa", "alpha", "beta"))
            out.append((arm, enabled, "t", (mean, math.sqrt(b / (alpha * kappa)), 2 * alpha)))
    return out


def policy_probs(db, name, arms):
    return np.array([db.one("SELECT bandit_policy_prob(%s, %s)", (name, a)) for a in arms])


def monte_carlo(rng, kind, params):
    k = len(params)
    counts = np.zeros(k, dtype=np.int64)
    p = np.array(params, dtype=float)
    for _ in range(MC_DRAWS // MC_CHUNK):
        if kind == "beta":
            draws = rng.beta(p[:, 0], p[:, 1], size=(MC_CHUNK, k))
        else:
            draws = p[:, 0] + p[:, 1] * rng.standard_t(p[:, 2], size=(MC_CHUNK, k))
        counts += np.bincount(np.argmax(draws, axis=1), minlength=k)
    return counts / MC_DRAWS


def quad_probs(kind, params):
    """P_i = int f_i(x) prod_{j != i} F_j(x) dx by scipy.integrate.quad.

    Densities and distribution functions come from scipy.special (betainc,
    betaln; stdtr, gammaln).  Arm i is integrated over its [1e-15, 1 - 1e-15]
    quantile range with its own quantiles as break points, so that a narrow
    density is not stepped over; a Beta arm with a or b below 1
    (a density singular at 0 or 1) is integrated over [0, 1] with quad's
    algebraic weight x^(a-1) (1-x)^(b-1) instead."""
    k = len(params)
    p = np.array(params, dtype=float)
    cut = 1e-15
    levels = np.array([1e-9, 1e-4, 0.01, 0.1, 0.5, 0.9, 0.99, 1 - 1e-4, 1 - 1e-9])
    if kind == "beta":
        a, b = p[:, 0], p[:, 1]
        cdf_all = lambda x: special.betainc(a, b, x)
        logpdf = lambda x, i: (a[i] - 1) * math.log(x) + (b[i] - 1) * math.log1p(-x) - special.betaln(a[i], b[i])
        ppf = lambda q, i: float(special.betaincinv(a[i], b[i], q))
    else:
        loc, scale, nu = p[:, 0], p[:, 1], p[:, 2]
        cdf_all = lambda x: special.stdtr(nu, (x - loc) / scale)

        def logpdf(x, i):
            z = (x - loc[i]) / scale[i]
            n = nu[i]
            return (special.gammaln((n + 1) / 2) - special.gammaln(n / 2) - 0.5 * math.log(n * math.pi)
                    - math.log(scale[i]) - (n + 1) / 2 * math.log1p(z * z / n))
        ppf = lambda q, i: float(loc[i] + scale[i] * special.stdtrit(nu[i], q))
    own = [[ppf(q, i) for q in levels] for i in range(k)]
    out = np.zeros(k)
    for i in range(k):
        def others(x, i=i):
            F = cdf_all(x)
            F[i] = 1.0
            return float(np.prod(F))

        if kind == "beta" and (a[i] < 1 or b[i] < 1):
            val, _ = integrate.quad(lambda x, i=i: others(x) / math.exp(special.betaln(a[i], b[i])), 0.0, 1.0,
                                    weight="alg", wvar=(a[i] - 1, b[i] - 1), limit=1000,
                                    epsabs=1e-13, epsrel=1e-11)
        else:
            lo, hi = ppf(cut, i), ppf(1 - cut, i)
            pts = [x for x in own[i] if lo < x < hi]
            val, _ = integrate.quad(lambda x, i=i: math.exp(logpdf(x, i)) * others(x), lo, hi,
                                    points=pts or None, limit=1000, epsabs=1e-13, epsrel=1e-11)
        out[i] = val
    return out


def exact_two_beta(a_a, b_a, a_b, b_b):
    """P(X_b > X_a), X ~ Beta, a_b integer (Evan Miller's closed form)."""
    total = 0.0
    for i in range(int(a_b)):
        total += math.exp(special.betaln(a_a + i, b_a + b_b) - math.log(b_b + i)
                          - special.betaln(1 + i, b_b) - special.betaln(a_a, b_a))
    return total


def compare_mc(db, rng, name, label):
    st = state(db, name)
    arms = [s[0] for s in st]
    enabled = [s for s in st if s[1]]
    p = policy_probs(db, name, arms)
    p_enabled = np.array([p[arms.index(s[0])] for s in enabled])
    kind = enabled[0][2]
    params = [s[3] for s in enabled]
    p_mc = monte_carlo(rng, kind, params)
    q = np.maximum(p_enabled, p_mc)
    tol = 4 * np.sqrt(q * (1 - q) / MC_DRAWS) + 1e-12
    err = np.abs(p_enabled - p_mc)
    worst = int(np.argmax(err / tol))
    check(np.all(err <= tol),
          f"{label}: every arm's propensity within 4 standard errors of 1e6 Monte Carlo draws",
          f"worst arm {enabled[worst][0]}: p={p_enabled[worst]!r} p_mc={p_mc[worst]!r} tol={tol[worst]:.3g}")
    disabled = [p[arms.index(s[0])] for s in st if not s[1]]
    check(abs(p_enabled.sum() - 1) <= 1e-12 and all(d == 0 for d in disabled),
          f"{label}: propensities of the enabled arms sum to 1" + (", disabled arms get 0" if disabled else ""),
          f"sum={p_enabled.sum()!r} disabled={disabled}")
    return st, p_enabled, kind, params


def main():
    with scratch_database(DB) as conn:
        db = Db(conn)
        db.q("SET bandit.seed = 2718")
        rng = np.random.default_rng(31415)

        # 2 arms, narrow: about 1,500 rewards per arm, rates 0.10 / 0.12
        build(db, rng, "two_narrow", ["a", "b"], [0.10, 0.12], 3000, '{"update": "batch"}')
        # 2 arms, wide: a handful of rewards
        build(db, rng, "two_wide", ["a", "b"], [0.3, 0.6], 7, '{"update": "batch"}')
        # 5 arms, narrow, close rates
        build(db, rng, "five_narrow", ["a", "b", "c", "d", "e"], [0.05, 0.055, 0.06, 0.065, 0.07], 5000,
              '{"update": "batch"}')
        # 5 arms, wide, Jeffreys prior Beta(1/2, 1/2): mass piled up at 0 and 1
        build(db, rng, "five_wide", ["a", "b", "c", "d", "e"], [0.1, 0.5, 0.9, 0.3, 0.02], 9,
              '{"update": "batch", "prior_alpha": 0.5, "prior_beta": 0.5}')
        # 20 arms: rates in [0.1, 0.3], very different numbers of rewards per arm
        rates20 = list(np.round(rng.uniform(0.1, 0.3, 20), 3))
        share20 = list(np.round(rng.uniform(0.02, 1.0, 20), 3))
        build(db, rng, "twenty", [f"arm{i:02d}" for i in range(20)], rates20, 6000, '{"update": "batch"}',
              reward_share=share20)
        # 20 arms again, one of them disabled: the others are compared
        build(db, rng, "twenty_dis", [f"arm{i:02d}" for i in range(20)], rates20, 3000, '{"update": "batch"}',
              reward_share=share20)
        db.q("SELECT bandit_set_arm_enabled('twenty_dis', 'arm07', false)")
        # gaussian, 3 arms, moderate data
        build(db, rng, "gauss3", ["a", "b", "c"], [1.0, 1.2, 1.1], 90, '{"update": "batch", "reward_type": "gaussian"}',
              gaussian_sd=0.5)
        # gaussian, 5 arms, 2 to 4 rewards each: few degrees of freedom, heavy tails
        build(db, rng, "gauss5_wide", ["a", "b", "c", "d", "e"], [0.0, 0.5, 1.0, -0.5, 0.2], 15,
              '{"update": "batch", "reward_type": "gaussian", "prior_kappa": 1}', gaussian_sd=2.0)
        # 100 arms (the spec's upper bound)
        rates100 = list(np.round(rng.uniform(0.2, 0.4, 100), 3))
        build(db, rng, "hundred", [f"arm{i:03d}" for i in range(100)], rates100, 8000, '{"update": "batch"}')

        mc_states = [("two_narrow", "2 arms, narrow Beta"), ("two_wide", "2 arms, wide Beta"),
                     ("five_narrow", "5 arms, narrow Beta"), ("five_wide", "5 arms, Jeffreys prior, few rewards"),
                     ("twenty", "20 arms, uneven Beta"), ("twenty_dis", "20 arms, one disabled"),
                     ("gauss3", "3 gaussian arms"), ("gauss5_wide", "5 gaussian arms, heavy tails"),
                     ("hundred", "100 Beta arms")]
        found = {}
        for name, label in mc_states:
            found[name] = compare_mc(db, rng, name, label)

        # quadrature: a few states, 1e-6 absolute
        for name, label in [("two_wide", "2 arms, wide Beta"), ("five_wide", "5 arms, Jeffreys prior"),
                            ("twenty", "20 arms"), ("gauss3", "3 gaussian arms"),
                            ("gauss5_wide", "5 gaussian arms, heavy tails")]:
            st, p, kind, params = found[name]
            pq = quad_probs(kind, params)
            err = np.max(np.abs(p - pq))
            check(err <= 1e-6 and abs(pq.sum() - 1) <= 1e-6,
                  f"{label}: propensities = quad of f_i prod F_j to 1e-6",
                  f"max error {err:.3g}, quad sum {pq.sum()!r}")

        st = state(db, "hundred")
        p = policy_probs(db, "hundred", [s[0] for s in st])
        pq = quad_probs("beta", [s[3] for s in st])
        err = np.max(np.abs(p - pq))
        check(err <= 1e-6 and abs(p.sum() - 1) <= 1e-12 and p.max() < 0.9 and np.sum(p > 1e-3) >= 5,
              "100 arms: propensities = quad of f_i prod F_j to 1e-6 (several arms in contention)",
              f"max error {err:.3g}, sum {p.sum()!r}, max p {p.max():.3g}")

        # exact closed form for two Beta arms with integer parameters
        for name, label in [("two_narrow", "2 arms, narrow"), ("two_wide", "2 arms, wide")]:
            st, p, kind, params = found[name]
            (aa, ba), (ab, bb) = params
            exact_b = exact_two_beta(aa, ba, ab, bb)
            check(abs(p[1] - exact_b) <= 1e-9 and abs(p[0] - (1 - exact_b)) <= 1e-9,
                  f"{label}: propensities = exact finite sum for Beta arms to 1e-9",
                  f"p={p!r} exact_b={exact_b!r} params={params}")

        # arm_stats.prob_best and the logged propensity are the same numbers
        for name in ("five_wide", "gauss3", "twenty_dis"):
            rows = db.q("SELECT s.prob_best, bandit_policy_prob(%s, s.arm) FROM bandit_arm_stats(%s) s",
                        (name, name))
            diff = max(abs(a - b) for a, b in rows)
            check(diff <= 1e-12, f"{name}: bandit_arm_stats.prob_best = bandit_policy_prob", f"max diff {diff!r}")
            rows = db.q("SELECT (s).propensity, bandit_policy_prob(%s, (s).arm) FROM "
                        "(SELECT bandit_select(%s) AS s FROM generate_series(1, 50)) q", (name, name))
            check(all(a == b for a, b in rows), f"{name}: bandit_select logs exactly bandit_policy_prob")

    return tap.report()


if __name__ == "__main__":
    run_checks(main, "thompson_propensity.py")
