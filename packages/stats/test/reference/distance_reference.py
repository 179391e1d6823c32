"""Reference values for jensenShannonDistance, wassersteinDistance and
wassersteinDistanceNormed (drift.test.ts), from scipy:
scipy.spatial.distance.jensenshannon, scipy.stats.wasserstein_distance and
Evidently's norm max(np.std(reference), 0.001) (population sd).

Run: python3 packages/stats/test/reference/distance_reference.py
"""
import math

import numpy as np
from scipy import stats
from scipy.spatial import distance

JS = {
    "[1,2,3] vs [3,2,1]": ([1, 2, 3], [3, 2, 1]),
    "[0.5,0.5,0] vs [0,0.1,0.9]": ([0.5, 0.5, 0], [0, 0.1, 0.9]),
    "[10,0] vs [0,10]": ([10, 0], [0, 10]),
}

W = {
    "[0,1,3] vs [5,6,8]": ([0, 1, 3], [5, 6, 8]),
    "[1,1,2,5] vs [2,3,3]": ([1, 1, 2, 5], [2, 3, 3]),
    "sqrt k (100) vs 0.3 + 1.1 sqrt k (80)": (
        [math.sqrt(k) for k in range(100)],
        [0.3 + 1.1 * math.sqrt(k) for k in range(80)],
    ),
}

if __name__ == "__main__":
    for name, (p, q) in JS.items():
        print(f"JS {name}: natural {distance.jensenshannon(p, q)!r}, base 2 {distance.jensenshannon(p, q, 2)!r}")
    for name, (a, b) in W.items():
        w = stats.wasserstein_distance(a, b)
        print(f"W {name}: {w!r}, normed {w / max(np.std(a), 0.001)!r}")
