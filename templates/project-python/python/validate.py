"""Data validation: the schema of conf/base/validate.yaml, checked before anything is learned.

Every column: its type (number or string), plausible range (min, max),
allowed categories and largest share of missing values (maxMissing). A
violation fails the run naming the column; otherwise `validation` records
what was checked.
"""

# First: it names a missing library (and how to install it) if an import below fails.
from cairn_step import Step  # isort: skip

import pandas as pd

step = Step()
data = pd.read_csv(step.input("data"))
rules = step.config["columns"]
problems = []
summary = {}

if len(data) < step.config["minRows"]:
    problems.append(f"{len(data)} rows, fewer than minRows {step.config['minRows']}")
for column, rule in rules.items():
    if column not in data.columns:
        problems.append(f"{column}: missing from the data (columns: {', '.join(data.columns)})")
        continue
    values = data[column]
    missing = float(values.isna().mean()) if len(values) else 0.0
    present = values.dropna()
    summary[column] = {"missing": missing}
    if missing > rule.get("maxMissing", 0):
        problems.append(f"{column}: {missing:.1%} missing, more than maxMissing {rule.get('maxMissing', 0):.1%}")
    if rule["type"] == "number":
        numbers = pd.to_numeric(present, errors="coerce")
        if numbers.isna().any():
            problems.append(f"{column}: {int(numbers.isna().sum())} values are not numbers")
            continue
        if len(numbers):
            summary[column].update({"min": float(numbers.min()), "max": float(numbers.max())})
        if "min" in rule and (numbers < rule["min"]).any():
            problems.append(f"{column}: {int((numbers < rule['min']).sum())} values below min {rule['min']}")
        if "max" in rule and (numbers > rule["max"]).any():
            problems.append(f"{column}: {int((numbers > rule['max']).sum())} values above max {rule['max']}")
    elif "allowed" in rule:
        unknown = sorted(set(present.astype(str)) - set(map(str, rule["allowed"])))
        if unknown:
            problems.append(f"{column}: values outside allowed: {', '.join(unknown[:5])}")
        summary[column]["categories"] = sorted(set(present.astype(str)))

if problems:
    step.fail("the data does not match conf/base/validate.yaml:\n" + "\n".join(f"  - {p}" for p in problems))
step.log(f"{len(data)} rows, {len(rules)} columns valid")
step.write_json("validation", {"rows": len(data), "columns": summary})
