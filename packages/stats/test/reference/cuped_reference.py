"""Reference values for cuped (cuped.test.ts), computed with numpy from the
raw per-unit values, independently of the streaming summaries:

    theta = sum over arms of sum((x - x̄_arm)(y - ȳ_arm)) / sum over arms of sum((x - x̄_arm)²)
    adjusted y = y - theta·(x - x̄_all), then the arms' means and sample variances.

Data (rebuilt from the same formulas in the test):
    control   k = 0..49: x = sqrt(k + 1),     y = 3 + 2x + sin(k)
    treatment k = 0..39: x = sqrt(k + 1.5),   y = 3.4 + 2x + cos(k)

Run: python3 packages/stats/test/reference/cuped_reference.py
"""
import numpy as np

xc = np.sqrt(np.arange(50) + 1.0)
yc = 3 + 2 * xc + np.sin(np.arange(50))
xt = np.sqrt(np.arange(40) + 1.5)
yt = 3.4 + 2 * xt + np.cos(np.arange(40))

num = np.sum((xc - xc.mean()) * (yc - yc.mean())) + np.sum((xt - xt.mean()) * (yt - yt.mean()))
den = np.sum((xc - xc.mean()) ** 2) + np.sum((xt - xt.mean()) ** 2)
theta = num / den
grand = np.concatenate([xc, xt]).mean()
ac = yc - theta * (xc - grand)
at = yt - theta * (xt - grand)
print("theta", repr(theta))
print("control mean", repr(ac.mean()), "variance", repr(ac.var(ddof=1)))
print("treatment mean", repr(at.mean()), "variance", repr(at.var(ddof=1)))
