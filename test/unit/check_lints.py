#!/usr/bin/python3
"""
Checks src/lints.c (through test/unit/lints_driver) against SciPy, printing
TAP so that `prove` can run it.

    /usr/bin/python3 check_lints.py path/to/lints_driver [--merge-tap FILE]

With --merge-tap, FILE holds the TAP output of another checker (run.sh passes
check_distributions.py's); its tests come first, renumbered, and one plan
covers both, so the whole run is a single TAP stream. A FILE without a
complete plan counts as a failed test.

Needs numpy and scipy (Debian: python3-numpy python3-scipy); mpmath, if
installed, adds 30-digit checks of tiny probabilities (else skipped).
All random cases come from numpy.random.default_rng(20240611).

What is checked, P_a = P(arm a has the largest Normal(mu, sd^2) draw):
  * scipy.integrate.quad (QUADPACK QAGP, tolerances 1e-14 absolute and
    1e-12 relative, breakpoints where every other arm's factor crosses
    Phi(-6), Phi(-3), ..., Phi(6)) of the same integrand on 360 random cases,
    k = 2..50, sd ratios up to 1e6, near-tied and far-apart means, disabled
    arms: |P - ref| < 1e-9 for every enabled arm when at most 6 are
    enabled, else for the 3 largest and 3 others; and the sum over all
    enabled arms is 1 within 1e-9;
  * closed forms (within 1e-12): two arms,
    Phi((mu_a - mu_b) / sqrt(sd_a^2 + sd_b^2)); k identical arms, 1/k;
  * Monte Carlo with 1e6 numpy draws (all arms within 5 standard errors);
  * point masses (sd = 0), tiny probabilities (relative accuracy), shift and
    scale invariance, invalid input (-1).
The mean time per call for k = 20 is printed as a comment.
"""
import math
import os
import re
import subprocess
import sys
import time
import warnings

import numpy as np
from scipy import integrate, optimize, special, stats

try:
    import mpmath
except ImportError:  # optional
    mpmath = None

np.seterr(all="ignore")
warnings.simplefilter("ignore")

DRIVER = "./lints_driver"
rng = np.random.default_rng(20240611)
results = []            # (ok, description, diagnostics)
comments = []           # printed after the tests

QUAD_TOL = 1e-9         # |P - quad| on the random cases
SUM_TOL = 1e-9          # |sum P - 1|
CLOSED_TOL = 1e-12      # closed forms
TINY_TOL = 1e-10        # relative, P below 1e-6


def record(ok, description, diagnostics=()):
    results.append((bool(ok), description, list(diagnostics)))


def run_driver(commands):
    """Runs the driver once on all commands; returns one output line each."""
    proc = subprocess.run([DRIVER], input="\n".join(commands) + "\n",
                          capture_output=True, text=True, check=True)
    lines = proc.stdout.split("\n")
    assert len(lines) >= len(commands), "driver printed too few lines"
    return lines[:len(commands)]


def fmt(v):
    return "%.17g" % v


def arms_text(mu, sd, enabled):
    return " ".join("%s %s %d" % (fmt(m), fmt(s), int(e)) for m, s, e in zip(mu, sd, enabled))


def prob_command(mu, sd, enabled, a):
    return "prob %d %d %s" % (len(mu), a, arms_text(mu, sd, enabled))


def each_command(mu, sd, enabled):
    return "each %d %s" % (len(mu), arms_text(mu, sd, enabled))


def parse_prob(line):
    parts = line.split()
    return float(parts[1]) if len(parts) == 2 and parts[0] == "ok" else None


def parse_each(line):
    """Probabilities (nan for disabled arms), or None on error."""
    parts = line.split()
    if not parts or parts[0] != "ok":
        return None
    return np.array([np.nan if v == "-" else float(v) for v in parts[1:]])

# ---------------------------------------------------------------- reference


def ref_prob(mu, sd, enabled, a, epsabs=1e-14, epsrel=1e-12, extra_points=False):
    """P_a by scipy.integrate.quad of phi(z) prod Phi(c_j + s_j z) (in logs);
    continuous arms only (sd > 0)."""
    others = [j for j in range(len(mu)) if enabled[j] and j != a]
    if not others:
        return 1.0
    c = np.array([(mu[a] - mu[j]) / sd[j] for j in others])
    s = np.array([sd[a] / sd[j] for j in others])
    # below z where some factor is < Phi(-9) = 1e-19 the integrand is negligible
    lo = max(-12.0, float(np.max((-9.0 - c) / s)))
    hi = 12.0
    if lo >= hi:
        return 0.0
    levels = np.arange(-6.0, 6.5, 0.5 if extra_points else 3.0)
    pts = ((levels[None, :] - c[:, None]) / s[:, None]).ravel()
    pts = np.unique(pts[(pts > lo) & (pts < hi)])

    def f(z):
        return math.exp(-0.5 * z * z + special.log_ndtr(c + s * z).sum()) / math.sqrt(2 * math.pi)
    value, _ = integrate.quad(f, lo, hi, points=pts if len(pts) else None,
                              epsabs=epsabs, epsrel=epsrel, limit=max(200, 4 * len(pts) + 50))
    return value

# ---------------------------------------------------------------- random cases


def random_case(regime, k):
    """(mu, sd, enabled) for one random problem."""
    if regime == "wide":
        sd = np.exp(rng.uniform(math.log(0.5), math.log(2.0), k))
        mu = rng.normal(0.0, 1.0, k)
    elif regime == "near-tied":
        sd = rng.uniform(0.8, 1.2, k)
        mu = 3.0 + rng.normal(0.0, 1e-3, k)
    elif regime == "clear-best":
        sd = rng.uniform(0.1, 0.3, k)
        mu = rng.normal(0.0, 0.2, k)
        mu[rng.integers(k)] += rng.uniform(0.5, 2.0)
    elif regime == "far-apart":
        sd = np.exp(rng.uniform(math.log(0.1), math.log(1.0), k))
        mu = rng.permutation(np.arange(k)) * rng.uniform(1.0, 5.0)
    elif regime == "ratio-1e6":
        sd = np.exp(rng.uniform(math.log(1e-6), 0.0, k))
        sd[rng.integers(k)] = 1e-6
        sd[rng.integers(k)] = 1.0
        mu = rng.normal(0.0, 0.5, k)
    elif regime == "narrow-among-wide":
        sd = np.where(rng.uniform(size=k) < 0.5, 10.0 ** rng.uniform(-6, -3, k), rng.uniform(0.5, 2.0, k))
        mu = rng.normal(0.0, 0.3, k)
    elif regime == "near-tied-narrow":
        sd = 10.0 ** rng.uniform(-6, 0, k)
        mu = 1.0 + rng.normal(0.0, 1.0, k) * sd * rng.uniform(0.0, 2.0)
    else:  # "scaled": all of it at an odd scale and offset
        sd = 10.0 ** rng.uniform(-1, 1, k) * 1e-4
        mu = 1e3 + rng.normal(0.0, 3e-4, k)
    enabled = np.ones(k, dtype=bool)
    if k > 2 and rng.uniform() < 0.4:
        enabled[rng.choice(k, size=rng.integers(1, k - 1), replace=False)] = False
    return mu, sd, enabled


REGIMES = ["wide", "near-tied", "clear-best", "far-apart", "ratio-1e6", "narrow-among-wide",
           "near-tied-narrow", "scaled"]


def check_random():
    problems = []
    for i in range(360):
        regime = REGIMES[i % len(REGIMES)]
        k = int(rng.integers(2, 51)) if i % 3 else int(rng.integers(2, 8))
        problems.append((regime, k) + random_case(regime, k))
    out = run_driver([each_command(mu, sd, en) for _, _, mu, sd, en in problems])
    worst = {}
    worst_sum = 0.0
    for n, ((regime, k, mu, sd, en), line) in enumerate(zip(problems, out)):
        ours = parse_each(line)
        label = "random %s k=%d (%d enabled)" % (regime, k, en.sum())
        if ours is None:
            record(False, "%s: driver said %s" % (label, line[:60]))
            continue
        arms = np.flatnonzero(en)
        # every arm when few, else the three largest and three others
        if len(arms) > 6:
            order = arms[np.argsort(-ours[arms])]
            arms = np.r_[order[:3], rng.choice(order[3:], 3, replace=False)]
        errs = []
        diag = []
        for a in arms:
            ref = ref_prob(mu, sd, en, a)
            errs.append(abs(ours[a] - ref))
            if errs[-1] > QUAD_TOL:
                diag.append("arm %d: ours %.17g quad %.17g" % (a, ours[a], ref))
        if n % 40 == 0:
            # the reference against itself with 4x the breakpoints and tighter tolerances
            a = arms[0]
            r1, r2 = ref_prob(mu, sd, en, a), ref_prob(mu, sd, en, a, 1e-15, 1e-13, True)
            diag.append("reference self-check arm %d: %.2e" % (a, abs(r1 - r2)))
            errs.append(0.0 if abs(r1 - r2) <= 1e-12 else np.inf)
        total = np.nansum(ours)
        err = max(errs)
        worst[regime] = max(worst.get(regime, 0.0), err)
        worst_sum = max(worst_sum, abs(total - 1))
        ok = err <= QUAD_TOL and abs(total - 1) <= SUM_TOL and (ours[en] >= 0).all() and (ours[en] <= 1).all()
        record(ok, "%s: max |P - quad| = %.1e over %d arms, |sum P - 1| = %.1e" % (label, err, len(arms), abs(total - 1)),
               diag + ["mu=%s" % list(mu), "sd=%s" % list(sd), "enabled=%s" % list(en.astype(int))] if not ok else diag)
    for regime in REGIMES:
        comments.append("random %-18s worst |P - quad| %.1e" % (regime, worst.get(regime, float("nan"))))
    comments.append("random cases: worst |sum P - 1| %.1e" % worst_sum)

# ---------------------------------------------------------------- closed forms


def check_closed_forms():
    # two arms
    cases = []
    for _ in range(300):
        sd = 10.0 ** rng.uniform(-6, 1, 2)
        mu = rng.normal(0.0, 1.0, 2) * (sd.max() if rng.uniform() < 0.7 else 1.0) * rng.uniform(0, 10)
        cases.append((mu, sd))
    out = run_driver([prob_command(mu, sd, [1, 1], 0) for mu, sd in cases])
    errs = []
    bad = []
    for (mu, sd), line in zip(cases, out):
        p = parse_prob(line)
        want = stats.norm.cdf((mu[0] - mu[1]) / math.hypot(sd[0], sd[1]))
        errs.append(np.inf if p is None else abs(p - want))
        if not errs[-1] <= CLOSED_TOL:
            bad.append("mu=%r sd=%r: %s, expected %.17g" % (list(mu), list(sd), line, want))
    record(not bad, "two arms: %d cases (sd 1e-6..10) match Phi(d / sqrt(sd_a^2 + sd_b^2)), max error %.1e (tol %.0e)"
           % (len(cases), max(errs), CLOSED_TOL), bad[:5])

    # k identical arms, some disabled
    cmds, want, labels = [], [], []
    for k in list(range(1, 21)) + [30, 40, 50, 64, 65, 100, 200]:
        for m, s in [(0.0, 1.0), (-3.5, 1e-5), (1e6, 2.5)]:
            en = np.ones(k, dtype=bool)
            if k > 3:
                en[:k // 3] = False
            a = int(np.flatnonzero(en)[-1])
            cmds.append(prob_command(np.full(k, m), np.full(k, s), en, a))
            want.append(1.0 / en.sum())
            labels.append("k=%d enabled=%d mu=%g sd=%g" % (k, en.sum(), m, s))
    out = run_driver(cmds)
    bad, errs = [], []
    for line, w, label in zip(out, want, labels):
        p = parse_prob(line)
        errs.append(np.inf if p is None else abs(p - w))
        if not errs[-1] <= CLOSED_TOL:
            bad.append("%s: %s, expected %.17g" % (label, line, w))
    record(not bad, "identical arms: %d cases, k up to 200, P = 1/k, max error %.1e (tol %.0e)"
           % (len(cmds), max(errs), CLOSED_TOL), bad[:5])

    # enabled = NULL behaves like all enabled
    mu, sd = rng.normal(0, 1, 7), rng.uniform(0.5, 2, 7)
    out = run_driver(["prob_all 7 %d %s" % (a, " ".join("%s %s" % (fmt(m), fmt(s)) for m, s in zip(mu, sd)))
                      for a in range(7)] + [prob_command(mu, sd, np.ones(7), a) for a in range(7)])
    record(out[:7] == out[7:], "enabled = NULL is the same as all arms enabled", out)

# ---------------------------------------------------------------- Monte Carlo


def check_monte_carlo():
    cases = [("three wide", [0.0, 0.3, -0.2], [1.0, 0.5, 2.0]),
             ("narrow and wide", [0.0, 0.05, 0.0, 1.0], [1e-3, 1e-3, 0.5, 1.5]),
             ("twenty near-tied", list(rng.normal(0, 0.05, 20)), list(rng.uniform(0.8, 1.2, 20))),
             ("clear best", [2.0] + list(rng.normal(0, 0.3, 9)), [0.3] + list(rng.uniform(0.1, 0.5, 9))),
             ("sd ratio 1e4", [0.0, 1e-4, 0.5, -0.3], [1e-4, 1e-4, 1.0, 0.7])]
    draws = 1_000_000
    mc_rng = np.random.default_rng(77)
    out = run_driver([each_command(mu, sd, [1] * len(mu)) for _, mu, sd in cases])
    for (label, mu, sd), line in zip(cases, out):
        ours = parse_each(line)
        mu, sd = np.array(mu), np.array(sd)
        counts = np.zeros(len(mu))
        for _ in range(10):
            scores = mu[None, :] + sd[None, :] * mc_rng.standard_normal((draws // 10, len(mu)))
            counts += np.bincount(np.argmax(scores, axis=1), minlength=len(mu))
        freq = counts / draws
        p = ours if ours is not None else freq
        se = np.sqrt(np.maximum(p * (1 - p), 1.0 / draws) / draws)
        z = np.inf if ours is None else np.max(np.abs(freq - ours) / se)
        record(z <= 5.0, "Monte Carlo %s (%d arms, 1e6 draws): max |P - freq| / se = %.2f (tol 5)"
               % (label, len(mu), z), ["ours %s" % line[:200], "freq %s" % freq])

# ---------------------------------------------------------------- point masses


def check_point_masses():
    # all sd = 0: ties at the maximum split evenly
    cases = [([1.0, 2.0, 2.0, 0.5], [1, 1, 1, 1], [0, 0.5, 0.5, 0]),
             ([3.0, 3.0, 3.0], [1, 1, 1], [1 / 3] * 3),
             ([1.0, 2.0, 2.0, 0.5], [1, 0, 1, 1], [0, None, 1, 0]),
             ([-1.0, -1.0, 5.0], [1, 1, 0], [0.5, 0.5, None]),
             ([7.0], [1], [1.0])]
    bad = []
    cmds = [each_command(mu, np.zeros(len(mu)), en) for mu, en, _ in cases]
    for (mu, en, want), line in zip(cases, run_driver(cmds)):
        p = parse_each(line)
        want = np.array([np.nan if w is None else w for w in want])
        if p is None or not np.allclose(p, want, rtol=0, atol=1e-15, equal_nan=True):
            bad.append("mu=%s enabled=%s: %s, expected %s" % (mu, en, line, want))
    record(not bad, "all sd = 0: the maximal means share probability 1 (%d cases)" % len(cases), bad)

    # some point masses among continuous arms
    mixed = [([0.0, 1.0, 0.5, 0.3], [0.0, 0.0, 1e-6, 2.0]),
             ([0.0, 0.0, 0.2, -0.1], [0.0, 0.0, 1.0, 0.5]),
             ([1.0, 0.3, 0.2, 1.0], [0.0, 0.7, 0.4, 0.0]),
             ([0.0, 0.1, -0.2, 0.05], [0.3, 0.0, 0.8, 1e-3]),
             ([2.0, 0.0, 0.5], [0.0, 1.0, 1.0]),
             ([-5.0, 0.0, 0.5], [0.0, 1.0, 1.0])]
    bad, worst = [], 0.0
    for mu, sd in mixed:
        mu, sd = np.array(mu), np.array(sd)
        en = np.ones(len(mu), dtype=bool)
        p = parse_each(run_driver([each_command(mu, sd, en)])[0])
        want = np.zeros(len(mu))
        point = sd == 0
        for a in range(len(mu)):
            cont = np.flatnonzero(~point & (np.arange(len(mu)) != a))
            if point[a]:
                if (mu[point] > mu[a]).any():
                    continue
                share = 1.0 / np.sum(point & (mu == mu[a]))
                want[a] = share * np.prod(stats.norm.cdf((mu[a] - mu[cont]) / sd[cont]))
            else:
                # continuous a: P(z > max point-mass limit) times the continuous factors
                lower = max([-12.0] + [(mu[m] - mu[a]) / sd[a] for m in np.flatnonzero(point)])
                c = (mu[a] - mu[cont]) / sd[cont]
                s = sd[a] / sd[cont]
                pts = np.unique(np.clip(np.r_[-c / s, (-6 - c) / s, (6 - c) / s], lower, 12))

                def f(z):
                    return stats.norm.pdf(z) * np.prod(stats.norm.cdf(c + s * z))
                want[a] = integrate.quad(f, lower, 12, points=pts[(pts > lower) & (pts < 12)],
                                         epsabs=1e-14, epsrel=1e-12, limit=400)[0] if lower < 12 else 0.0
        err = np.inf if p is None else np.abs(p - want).max()
        worst = max(worst, err)
        if not err <= 1e-10:
            bad.append("mu=%s sd=%s: ours %s, expected %s" % (list(mu), list(sd), p, want))
        elif abs(p.sum() - 1) > 1e-10:
            bad.append("mu=%s sd=%s: sum %.17g" % (list(mu), list(sd), p.sum()))
    record(not bad, "point masses among continuous arms (%d cases): max error %.1e, sums 1" % (len(mixed), worst), bad)

# ---------------------------------------------------------------- tiny values


def mp_prob(mu, sd, a):
    """P_a to ~25 digits: mpmath.quad in z over the bulk of the integrand,
    located from its log-concave maximum."""
    mpmath.mp.dps = 30
    others = [j for j in range(len(mu)) if j != a]
    c = [mpmath.mpf(mu[a] - mu[j]) / sd[j] for j in others]
    s = [mpmath.mpf(sd[a]) / sd[j] for j in others]

    def logf(z):
        return -z * z / 2 + sum(mpmath.log(mpmath.ncdf(cj + sj * z)) for cj, sj in zip(c, s))
    def float_logf(z):
        return -z * z / 2 + special.log_ndtr(np.array([float(v) for v in c]) + np.array([float(v) for v in s]) * z).sum()
    z0 = optimize.minimize_scalar(lambda z: -float_logf(z), bounds=(0.0, 40.0), method="bounded",
                                  options={"xatol": 1e-12}).x
    zs = mpmath.mpf(z0)     # the maximum (it only places breakpoints and scales)
    w = 1 / mpmath.sqrt(abs(mpmath.diff(logf, zs, 2)) + 1)
    peak = logf(zs)
    # breakpoints on the scale of the peak, of phi and of every arm's factor
    pts = [zs + w * t for t in (-60, -30, -15, -8, -4, -2, -1, 0, 1, 2, 4, 8, 15, 30, 60)]
    pts += [zs + t for t in (-16, -8, -4, -2, -1, -0.5, 0.5, 1, 2, 4, 8, 16)]
    pts += [(level - cj) / sj for cj, sj in zip(c, s) for level in (-8, -4, -2, -1, 0, 1, 2, 4, 8)]
    pts = sorted(set(p for p in pts if abs(p - zs) < 40))
    value = mpmath.quad(lambda z: mpmath.exp(logf(z) - peak), [-mpmath.inf] + pts + [mpmath.inf])
    return mpmath.exp(peak) * value / mpmath.sqrt(2 * mpmath.pi)


def check_tiny():
    cases = [([-10.0, 0.0], [1.0, 1.0]),
             ([-40.0, 0.0], [1.0, 1.0]),
             ([-52.5, 0.0], [1.0, 1.0]),
             ([-30.0, 0.0, 0.5, -1.0], [1.0, 0.5, 2.0, 1.0]),
             ([-5.0, 0.0, 0.1, 0.2, 0.3], [0.5, 0.5, 0.5, 0.5, 0.5]),
             ([0.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0], [0.2, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]),
             ([-0.03, 0.0], [1e-3, 1e-3]),
             ([-8.0, 0.0, 1.0], [3.0, 1e-4, 1e-2]),
             ([-1.5, 0.0], [0.05, 0.01]),
             ([-12.0, 0.0, 0.0, 0.0], [1.0, 1e-5, 1.0, 1e-2]),
             ([-3.0, 0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2], [0.2, 1.0, 0.8, 0.6, 0.4, 0.3, 0.2, 0.1])]
    out = run_driver([prob_command(mu, sd, [1] * len(mu), 0) for mu, sd in cases])
    # two arms: the closed form, relative accuracy through log_ndtr
    bad, worst, smallest = [], 0.0, 1.0
    for (mu, sd), line in zip(cases, out):
        p = parse_prob(line)
        if len(mu) == 2:
            want = math.exp(special.log_ndtr((mu[0] - mu[1]) / math.hypot(sd[0], sd[1])))
        elif mpmath is not None:
            want = float(mp_prob(mu, sd, 0))
        else:
            continue
        rel = np.inf if p is None or want == 0 else abs(p / want - 1)
        worst = max(worst, rel)
        smallest = min(smallest, want)
        if not (rel <= TINY_TOL and p > 0):
            bad.append("mu=%s sd=%s: ours %s, expected %.17g (relative error %.1e)" % (mu, sd, line, want, rel))
    note = "" if mpmath is not None else " (k > 2 skipped: no mpmath)"
    record(not bad, "tiny probabilities (%d cases, down to %.0e): positive, relative error %.1e (tol %.0e)%s"
           % (len(cases), smallest, worst, TINY_TOL, note), bad)

    # below the representable range: 0, and no error
    out = run_driver([prob_command([-200.0, 0.0], [1.0, 1.0], [1, 1], 0),
                      prob_command([-1e300, 1e300], [1.0, 1.0], [1, 1], 0),
                      prob_command([1e300, -1e300], [1.0, 1.0], [1, 1], 0)])
    record([parse_prob(l) for l in out] == [0.0, 0.0, 1.0], "far below: P = 0 exactly; huge means: 0 and 1 (%s)" % out)

# ---------------------------------------------------------------- invariance, invalid input


def check_invariance():
    k = 12
    mu = np.round(rng.normal(0, 1, k) * 2 ** 20) / 2 ** 20
    sd = np.round(rng.uniform(0.1, 2, k) * 2 ** 20) / 2 ** 20
    en = np.ones(k, dtype=bool)
    out = run_driver([each_command(mu, sd, en), each_command(mu + 2.0 ** 10, sd, en),
                      each_command(mu * 2.0 ** -30, sd * 2.0 ** -30, en),
                      each_command(mu[::-1], sd[::-1], en)])
    base = parse_each(out[0])
    others = [parse_each(out[1]), parse_each(out[2]), parse_each(out[3])[::-1]]
    diff = max(np.abs(o - base).max() for o in others)
    record(diff <= 1e-12, "invariant under shifting, scaling by 2^-30 and reordering arms (max diff %.1e)" % diff)


def check_invalid():
    nan, inf = float("nan"), float("inf")
    cases = [
        "prob 0 0",                                 # k < 1
        "prob 2 2 0 1 1 0 1 1",                     # a out of range
        "prob 2 -1 0 1 1 0 1 1",
        "prob 2 0 0 1 0 0 1 1",                     # a not enabled
        "prob 2 0 %r 1 1 0 1 1" % nan,              # non-finite mu
        "prob 2 1 0 1 1 %r 1 1" % inf,
        "prob 2 0 0 %r 1 0 1 1" % inf,              # non-finite sd
        "prob 2 0 0 1 1 0 %r 1" % nan,
        "prob 2 0 0 -1 1 0 1 1",                    # negative sd
        "prob 2 0 0 1 1 0 -1e-300 1",
    ]
    out = run_driver(cases)
    bad = ["%s -> %s" % (c, o) for c, o in zip(cases, out) if o != "error -1"]
    record(not bad, "invalid input returns -1 (%d cases)" % len(cases), bad)
    # ... but values of disabled arms are ignored
    out = run_driver(["prob 3 0 0 1 1 %r -1 0 0 1 1" % nan])
    p = parse_prob(out[0])
    record(p is not None and abs(p - 0.5) <= CLOSED_TOL, "a disabled arm's invalid values are ignored (%s)" % out[0])

# ---------------------------------------------------------------- timing


def report_timing():
    trng = np.random.default_rng(5)
    k = 20
    typical_mu = np.r_[1.0, trng.normal(0, 0.2, k - 1)]
    typical_sd = trng.uniform(0.1, 0.3, k)
    tied_mu = trng.normal(0, 0.01, k)
    tied_sd = trng.uniform(0.9, 1.1, k)
    mixed_mu = trng.normal(0, 1, k)
    mixed_sd = np.exp(trng.uniform(-4, 2, k))
    cases = [("one clearly best arm, P of the best", typical_mu, typical_sd, 0),
             ("one clearly best arm, P of another", typical_mu, typical_sd, 1 + int(np.argmax(typical_mu[1:]))),
             ("all 20 nearly tied", tied_mu, tied_sd, 0),
             ("sd over a range of e^6, P of the widest", mixed_mu, mixed_sd, int(np.argmax(mixed_sd)))]
    reps = 20000
    out = run_driver(["time %d %d %d %s" % (reps, k, a, arms_text(mu, sd, np.ones(k))) for _, mu, sd, a in cases])
    for (label, *_), line in zip(cases, out):
        comments.append("time per call, k = 20, %s: %s us" % (label, line.strip()))

# --------------------------------------------------------------------- main


def read_tap(path):
    """Tests (ok, description, diagnostics) and comments from a TAP file; a
    failed test is added if the plan is missing or does not match."""
    tests, notes, plan = [], [], None
    try:
        with open(path) as f:
            lines = f.read().split("\n")
    except OSError as exc:
        return [(False, "merged TAP %s unreadable: %s" % (path, exc), [])], []
    for line in lines:
        if line.startswith("1.."):
            plan = line
        elif re.match(r"(not )?ok\b", line):
            m = re.match(r"(not )?ok(?:\s+\d+)?(?:\s*-)?\s*(.*)$", line)
            tests.append((m.group(1) is None, m.group(2), []))
        elif line.startswith("#   ") and tests:
            tests[-1][2].append(line[4:])
        elif line.startswith("#"):
            notes.append("%s: %s" % (os.path.basename(path), line[1:].strip()))
    count = None
    if plan is not None:
        try:
            count = int(plan[3:].split()[0])
        except (ValueError, IndexError):
            count = None
    if count is None or count != len(tests):
        tests.append((False, "merged TAP %s: plan %r but %d tests (incomplete run?)" % (path, plan, len(tests)), []))
    return tests, notes


def main(argv):
    global DRIVER
    args = list(argv[1:])
    merge = None
    if "--merge-tap" in args:
        i = args.index("--merge-tap")
        merge = args[i + 1]
        del args[i:i + 2]
    if args:
        DRIVER = args[0]
    start = time.time()
    for check in (check_invalid, check_closed_forms, check_point_masses, check_tiny, check_invariance,
                  check_monte_carlo, check_random, report_timing):
        try:
            check()
        except Exception as exc:  # e.g. the driver crashed: report, go on
            record(False, "%s raised %s: %s" % (check.__name__, type(exc).__name__, str(exc)[:200]))
    tests, notes = read_tap(merge) if merge else ([], [])
    tests += results
    print("1..%d" % len(tests))
    failed = 0
    for n, (ok, description, diagnostics) in enumerate(tests, 1):
        print("%s %d - %s" % ("ok" if ok else "not ok", n, description))
        if not ok:
            failed += 1
            for line in diagnostics:
                print("#   %s" % line)
    for line in notes + comments:
        print("# %s" % line)
    print("# lints: %d of %d tests failed; %.1f s" % (sum(1 for r in results if not r[0]), len(results),
                                                       time.time() - start))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
