"""Serving a trained model: the bundle's entry module (flavor `python`).

The model server (`npx cairn serve`, deploy-local's Python worker) and the
evaluate step both load a model through this file, so what is evaluated is
what is served. `load(model_dir)` returns an object whose `predict(rows)`
gives one prediction per row; a row is an object of feature values
(`{"bill_length_mm": 39.1, ...}`) or a list in the order of the model's
features. A ValueError is the caller's fault: the server answers HTTP 400.
"""

import json
import os

import joblib
import pandas as pd


class Model:
    def __init__(self, estimator, features, numeric):
        self.estimator = estimator
        self.features = features
        self.numeric = set(numeric)

    def frame(self, rows):
        if not isinstance(rows, list):
            raise ValueError("rows must be a list")
        records = []
        for i, row in enumerate(rows):
            if isinstance(row, list):
                if len(row) != len(self.features):
                    raise ValueError(f"row {i}: {len(row)} values, expected {len(self.features)} ({', '.join(self.features)})")
                row = dict(zip(self.features, row))
            if not isinstance(row, dict):
                raise ValueError(f"row {i}: expected an object of feature values or a list")
            record = {}
            for feature in self.features:
                value = row.get(feature)
                if value is None:
                    # Missing: the model's imputers fill it in, as they did in training.
                    record[feature] = float("nan")
                elif feature in self.numeric:
                    if isinstance(value, bool) or not isinstance(value, (int, float)):
                        raise ValueError(f"row {i}: {feature} must be a number, got {value!r}")
                    record[feature] = float(value)
                else:
                    record[feature] = str(value)
            records.append(record)
        return pd.DataFrame.from_records(records, columns=self.features)

    def predict(self, rows):
        if len(rows) == 0:
            return []
        return self.estimator.predict(self.frame(rows)).tolist()


def load(model_dir):
    with open(os.path.join(model_dir, "features.json"), encoding="utf-8") as file:
        spec = json.load(file)
    return Model(joblib.load(os.path.join(model_dir, "model.joblib")), spec["features"], spec["numeric"])
