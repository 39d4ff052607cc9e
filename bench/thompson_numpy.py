#!/usr/bin/python3
"""NumPy/SciPy baseline for bench/thompson.sh: the same integral,
P_i = int f_i(x) prod_{j != i} F_j(x) dx, for Beta arms, on one vectorised
grid (scipy.stats.beta pdf and cdf for all arms at once, trapezoid rule),
with enough points for ~1e-6 accuracy.  Prints "<layout> k=<k> <median us>"
and the largest difference from the extension's own quadrature is checked by
the caller on the example problem.

Usage: thompson_numpy.py RUNS
"""
import sys
import time

import numpy as np
from scipy import stats

GRID = 20001


def prob_best(alpha, beta):
    alpha = np.asarray(alpha, float)[:, None]
    beta = np.asarray(beta, float)[:, None]
    lo = stats.beta.ppf(1e-10, alpha, beta).max()
    hi = stats.beta.ppf(1 - 1e-10, alpha, beta).max()
    x = np.linspace(lo, hi, GRID)[None, :]
    pdf = stats.beta.pdf(x, alpha, beta)
    cdf = stats.beta.cdf(x, alpha, beta)
    # product over j != i without division: prefix and suffix products
    ones = np.ones((1, GRID))
    prefix = np.cumprod(np.vstack([ones, cdf[:-1]]), axis=0)
    suffix = np.vstack([np.cumprod(cdf[::-1], axis=0)[::-1][1:], ones])
    integrand = np.nan_to_num(pdf * prefix * suffix)
    p = np.trapz(integrand, x[0], axis=1)
    return p / p.sum()


def layout(name, k, rng):
    if name == "example":
        return [304, 246, 261, 42, 180], [5014, 4656, 4527, 924, 3476]
    if name == "narrow":
        size = 10 ** rng.uniform(3, 6, k)
        mean = rng.uniform(0.045, 0.055, k)
        return mean * size, (1 - mean) * size
    if name == "wide":
        return rng.uniform(0.5, 5, k), rng.uniform(0.5, 5, k)
    raise ValueError(name)


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    rng = np.random.default_rng(7)
    for name, k in [("example", 5), ("narrow", 5), ("wide", 5), ("narrow", 20), ("wide", 20),
                    ("narrow", 100), ("wide", 100)]:
        a, b = layout(name, k, rng)
        samples = []
        for _ in range(runs):
            t0 = time.perf_counter()
            p = prob_best(a, b)
            samples.append((time.perf_counter() - t0) * 1e6)
        print(f"{name} k={k} {np.median(samples):.1f}")
        if name == "example":
            print("example-probabilities " + " ".join(f"{v:.12f}" for v in p))


if __name__ == "__main__":
    main()
