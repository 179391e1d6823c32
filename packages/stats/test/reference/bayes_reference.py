"""Reference values for bayes.test.ts: P(treatment > control) for Beta
posteriors (uniform prior), by numerical integration with scipy, independent
of the closed-form sum that bayes.ts evaluates:

    P(T > C) = ∫ f_C(x) · (1 - F_T(x)) dx        (integrated over C's density)
             = ∫ f_T(y) · F_C(y) dy              (integrated over T's density)

Both forms are computed; they agree to about 1e-12, which bounds the
reference's own error. Run: python3 packages/stats/test/reference/bayes_reference.py
"""
import numpy as np
from scipy import integrate, stats


def posterior(successes, trials):
    return stats.beta(successes + 1, trials - successes + 1)


def integrate_over(dist, g):
    # Where the density lives: mean ± 40 sd, in 80 pieces so quad resolves the peak.
    lo = max(0.0, dist.mean() - 40 * dist.std())
    hi = min(1.0, dist.mean() + 40 * dist.std())
    edges = np.linspace(lo, hi, 81)
    return sum(
        integrate.quad(lambda x: dist.pdf(x) * g(x), a, b, epsabs=0, epsrel=1e-13, limit=200)[0]
        for a, b in zip(edges[:-1], edges[1:])
    )


def prob_to_beat(control, treatment):
    c, t = posterior(*control), posterior(*treatment)
    over_c = integrate_over(c, t.sf)
    over_t = integrate_over(t, c.cdf)
    return over_c, over_t


CASES = [
    ((20, 40_000), (6_000, 10_000_000)),
    ((6_000, 10_000_000), (20, 40_000)),
    ((270, 10_500), (5_200, 199_500)),
    ((5_200, 199_500), (270, 10_500)),
    ((6_000, 100_000), (6_100, 100_000)),
]

if __name__ == "__main__":
    for control, treatment in CASES:
        a, b = prob_to_beat(control, treatment)
        print(f"control {control} treatment {treatment}: P(T > C) = {a!r} (other form {b!r}, diff {abs(a - b):.1e})")
