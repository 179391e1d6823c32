"""Data gathering: read the data file of conf/base/ingest.yaml into a clean CSV.

Outputs `data` (CSV, missing markers as empty fields) and `source` (the
file's path and sha256: the ingest step is reused only while the file keeps
that digest, so new data re-runs exactly what depends on it).
"""

# First: it names a missing library (and how to install it) if an import below fails.
from cairn_step import Step  # isort: skip

import hashlib

import pandas as pd

step = Step()
path = step.project_path(step.config["path"])
try:
    with open(path, "rb") as file:
        digest = hashlib.sha256(file.read()).hexdigest()
except OSError as error:
    step.fail(f"cannot read the data file {step.config['path']}: {error.strerror} (check path in conf/base/ingest.yaml)")

if path.lower().endswith(".json"):
    data = pd.read_json(path)
else:
    data = pd.read_csv(path, na_values=step.config["missing"], keep_default_na=False)
step.log(f"read {len(data)} rows and {len(data.columns)} columns from {step.config['path']}")

data.to_csv(step.output("data"), index=False)
step.write_json("source", {"path": step.config["path"], "resolved": path, "sha256": digest})
