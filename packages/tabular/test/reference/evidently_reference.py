"""Reference values for detectDrift's `evidently` preset (drift.test.ts).

Evidently itself is not installable here (no PyPI), so this script applies
Evidently's legacy stattests formulas (evidently/legacy/calculations/stattests:
registry._get_default_stattest, ks_stattest, chisquare_stattest, z_stattest,
jensenshannon, wasserstein_distance_norm, utils.get_binned_data) with scipy and
numpy to the same deterministic columns the test builds:

    small: reference k = 0..199, current k = 0..149
    large: reference k = 0..1499, current k = 0..1199
    x      reference sqrt(k)          current 0.5 + sqrt(1.1 k)
    grade  reference k % 4            current k % 3            (numbers, 3–5 distinct: chi-square)
    answer reference yes if k%3==0    current yes if k%2==0    (two categories: z-test)
    city   reference abc[k % 3]       current abcd[k % 4]
    level  reference k % 5            current k % 4            (large: <= 5 distinct -> Jensen-Shannon)

Run: python3 packages/tabular/test/reference/evidently_reference.py
"""
import math

import numpy as np
from scipy import stats
from scipy.spatial import distance


def columns(n):
    k = np.arange(n)
    return k


def ref_cur(n_ref, n_cur):
    kr, kc = np.arange(n_ref), np.arange(n_cur)
    return {
        "x": (np.sqrt(kr), 0.5 + np.sqrt(1.1 * kc)),
        "grade": (kr % 4, kc % 3),
        "answer": (np.where(kr % 3 == 0, "yes", "no"), np.where(kc % 2 == 0, "yes", "no")),
        "city": (np.array(["a", "b", "c"])[kr % 3], np.array(["a", "b", "c", "d"])[kc % 4]),
        "level": (kr % 5, kc % 4),
    }


def counts(ref, cur):
    keys = sorted(set(ref.tolist()) | set(cur.tolist()))
    r = np.array([np.sum(ref == key) for key in keys], dtype=float)
    c = np.array([np.sum(cur == key) for key in keys], dtype=float)
    return keys, r, c


def chi(ref, cur):
    keys, r, c = counts(ref, cur)
    f_exp = r * (len(cur) / len(ref))
    with np.errstate(divide="ignore", invalid="ignore"):
        return stats.chisquare(c, f_exp)


def z(ref, cur):
    keys = sorted(set(ref.tolist()) | set(cur.tolist()))
    a = (ref != keys[0]).astype(float)
    b = (cur != keys[0]).astype(float)
    n1, n2 = len(a), len(b)
    p1, p2 = a.sum() / n1, b.sum() / n2
    P = (p1 * n1 + p2 * n2) / (n1 + n2)
    zs = (p1 - p2) / np.sqrt(P * (1 - P) * (1 / n1 + 1 / n2))
    return zs, 2 * (1 - stats.norm.cdf(abs(zs)))


def js(ref, cur, numerical):
    if numerical and len(set(ref.tolist())) > 20:
        bins = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
        r = np.histogram(ref, bins)[0] / len(ref)
        c = np.histogram(cur, bins)[0] / len(cur)
    else:
        _, r, c = counts(ref, cur)
        r, c = r / len(ref), c / len(cur)
    return distance.jensenshannon(r, c)


def wasserstein(ref, cur):
    return stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001)


if __name__ == "__main__":
    small = ref_cur(200, 150)
    print("small x ks:", repr(stats.ks_2samp(*small["x"]).statistic), repr(stats.ks_2samp(*small["x"]).pvalue))
    print("small grade chi-square:", [repr(float(v)) for v in chi(*small["grade"])])
    print("small answer z: z (ours: first key share, sign flipped)", [repr(float(v)) for v in z(*small["answer"])])
    print("small city chi-square:", [repr(float(v)) for v in chi(*small["city"])])
    large = ref_cur(1500, 1200)
    print("large x wasserstein normed:", repr(wasserstein(*large["x"])))
    print("large x jensenshannon (sturges):", repr(js(*large["x"], True)))
    print("large level jensenshannon:", repr(js(*large["level"], True)))
    print("large city jensenshannon:", repr(js(*large["city"], False)))
