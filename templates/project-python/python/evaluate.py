"""Offline evaluation: score the held-out rows through the bundle's own predict.py.

The model is loaded exactly as the model server loads it, so what is
scored is what is served. Writes `metrics` (accuracy, macro-F1, the
majority-class baseline) and a Markdown `report`; fails the run when
macro-F1 is below the floor `minMacroF1` of conf/base/evaluate.yaml.
"""

# First: it names a missing library (and how to install it) if an import below fails.
from cairn_step import Step  # isort: skip

import importlib.util
import json
import os

import pandas as pd
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score

step = Step()
with open(os.path.join(step.input("model"), "cairn-model.json"), encoding="utf-8") as file:
    manifest = json.load(file)
model_dir = os.path.join(step.input("model"), "files")
spec = importlib.util.spec_from_file_location("bundle_predict", os.path.join(model_dir, "predict.py"))
entry = importlib.util.module_from_spec(spec)
spec.loader.exec_module(entry)
model = entry.load(model_dir)

test = pd.read_csv(step.input("test"))
target = manifest["metadata"]["target"]
rows = test.drop(columns=[target]).astype(object).where(test.drop(columns=[target]).notna(), None)
predicted = model.predict(rows.to_dict(orient="records"))
actual = test[target].astype(str).tolist()
predicted = [str(p) for p in predicted]

majority = max(set(actual), key=actual.count)
scores = {
    "accuracy": accuracy_score(actual, predicted),
    "macro_f1": f1_score(actual, predicted, average="macro"),
    "baseline_accuracy": actual.count(majority) / len(actual),
    "test_rows": len(actual),
}
step.log(f"macro-F1 {scores['macro_f1']:.4f}, accuracy {scores['accuracy']:.4f} on {len(actual)} held-out rows")
if scores["macro_f1"] < step.config["minMacroF1"]:
    step.fail(f"macro-F1 {scores['macro_f1']:.4f} is below the floor minMacroF1 {step.config['minMacroF1']}")
step.write_metrics("metrics", scores)

labels = sorted(set(actual) | set(predicted))
matrix = confusion_matrix(actual, predicted, labels=labels)
lines = [
    f"# Evaluation of run {step.run_id}",
    "",
    f"Held-out rows: {len(actual)}. Majority-class baseline accuracy: {scores['baseline_accuracy']:.4f}.",
    "",
    "| metric | value |",
    "| --- | --- |",
    *[f"| {name} | {value:.4f} |" for name, value in scores.items() if name != "test_rows"],
    "",
    "## Confusion matrix (rows: actual, columns: predicted)",
    "",
    "| | " + " | ".join(labels) + " |",
    "| --- |" + " --- |" * len(labels),
    *[f"| {label} | " + " | ".join(str(n) for n in row) + " |" for label, row in zip(labels, matrix)],
    "",
    "## Per class",
    "",
    "```",
    classification_report(actual, predicted, zero_division=0),
    "```",
]
step.write_report("report", "\n".join(lines) + "\n", title="Evaluation")
