"""Reference values for ksTwoSample (drift.test.ts).

- Without ties: scipy.stats.ks_2samp(a, b, method='exact') (two-sided), and
  method='asymp' to show how far the asymptotic distribution is.
- With ties: the exact permutation p-value by brute force over every split of
  the pooled sample into sizes n and m (each equally likely under the null):
  P(D' >= D), D' computed like D with ties moving both CDFs together.
  scipy's exact method ignores ties, so it is printed only for comparison.

Samples are built from closed formulas so the TypeScript test can rebuild them.
Run: python3 packages/stats/test/reference/ks_reference.py
"""
import itertools
import math
from fractions import Fraction

from scipy import stats


def d_statistic(a, b):
    n, m = len(a), len(b)
    best = Fraction(0)
    for v in sorted(set(a) | set(b)):
        fa = Fraction(sum(1 for x in a if x <= v), n)
        fb = Fraction(sum(1 for x in b if x <= v), m)
        best = max(best, abs(fa - fb))
    return best


def brute_force_p(a, b):
    pooled = list(a) + list(b)
    n = len(a)
    d = d_statistic(a, b)
    hits = total = 0
    for idx in itertools.combinations(range(len(pooled)), n):
        chosen = set(idx)
        x = [pooled[k] for k in idx]
        y = [pooled[k] for k in range(len(pooled)) if k not in chosen]
        total += 1
        if d_statistic(x, y) >= d:
            hits += 1
    return Fraction(hits, total)


def sample(n, shift, step):
    # Distinct values without ties: an arithmetic progression interleaved with a shifted one.
    return [round(k * step + shift, 10) for k in range(n)]


NO_TIES = {
    "2 vs 2 disjoint": ([1, 2], [3, 4]),
    "5 vs 6": ([1, 2, 3, 4, 5], [3.5, 4.5, 5.5, 6.5, 7.5, 8.5]),
    "50 vs 60 (k vs 0.35 + 0.9 k)": ([k for k in range(50)], [0.35 + 0.9 * k for k in range(60)]),
    "100 vs 120 (sqrt k vs 0.05 + sqrt(1.2 k))": (
        [math.sqrt(k) for k in range(100)],
        [0.05 + math.sqrt(1.2 * k) for k in range(120)],
    ),
    "200 vs 150 (k vs 20.5 + k)": ([k for k in range(200)], [20.5 + k for k in range(150)]),
    "5000 vs 4000 (k vs 0.3333 + 1.22 k, no ties)": ([k for k in range(5000)], [0.3333 + 1.22 * k for k in range(4000)]),
    "3000 vs 2000 (sqrt k vs 0.3333 + 1.2 sqrt k, no ties)": (
        [math.sqrt(k) for k in range(3000)],
        [0.3333 + 1.2 * math.sqrt(k) for k in range(2000)],
    ),
}

TIES = {
    "3 vs 3 all tied within": ([0, 0, 0], [1, 1, 1]),
    "4 vs 5 with ties across": ([1, 1, 2, 3], [2, 2, 3, 4, 4]),
    "6 vs 6 with ties": ([0, 1, 1, 2, 2, 3], [1, 2, 3, 3, 4, 4]),
    "7 vs 5 rounded": ([0, 0, 1, 1, 1, 2, 2], [1, 2, 2, 3, 3]),
}

if __name__ == "__main__":
    for name, (a, b) in NO_TIES.items():
        exact = stats.ks_2samp(a, b, method="exact")
        asymp = stats.ks_2samp(a, b, method="asymp")
        print(f"{name}: D = {exact.statistic!r}, exact p = {exact.pvalue!r}, asymp p = {asymp.pvalue!r}")
    for name, (a, b) in TIES.items():
        p = brute_force_p(a, b)
        print(f"{name}: D = {d_statistic(a, b)}, permutation p = {p} = {float(p)!r}, scipy exact {stats.ks_2samp(a, b, method='exact').pvalue!r}")
