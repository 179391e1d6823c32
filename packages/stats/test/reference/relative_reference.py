"""Reference values for the relative lift and its delta-method interval
(tests.test.ts). The variance is GrowthBook's frequentist relative variance,
var_t/(m_c²·n_t) + var_c·m_t²/(m_c⁴·n_c), with the point estimate divided by
|m_c|; the critical value is scipy's t (Welch–Satterthwaite df) or normal quantile.

Run: python3 packages/stats/test/reference/relative_reference.py
"""
import math

from scipy import stats


def welch(nc, mc, vc, nt, mt, vt, alpha=0.05):
    se2c, se2t = vc / nc, vt / nt
    df = (se2c + se2t) ** 2 / (se2c**2 / (nc - 1) + se2t**2 / (nt - 1))
    crit = stats.t.ppf(1 - alpha / 2, df)
    rel = (mt - mc) / abs(mc)
    var = vt / (mc**2 * nt) + vc * mt**2 / (mc**4 * nc)
    return rel, rel - crit * math.sqrt(var), rel + crit * math.sqrt(var)


def proportions(sc, nc, st, nt, alpha=0.05):
    pc, pt = sc / nc, st / nt
    crit = stats.norm.ppf(1 - alpha / 2)
    rel = (pt - pc) / pc
    var = pt * (1 - pt) / (pc**2 * nt) + pc * (1 - pc) * pt**2 / (pc**4 * nc)
    return rel, rel - crit * math.sqrt(var), rel + crit * math.sqrt(var)


if __name__ == "__main__":
    print("welch n100 mean -2 var 1 vs n120 mean -1.8 var 1.5:", [repr(x) for x in welch(100, -2, 1, 120, -1.8, 1.5)])
    print("proportions 200/1000 vs 250/1000:", [repr(x) for x in proportions(200, 1000, 250, 1000)])
