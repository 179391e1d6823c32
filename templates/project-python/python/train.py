"""Training: a seeded scikit-learn random forest, packaged as a `python` model bundle.

Splits the validated data into training and held-out rows (stratified by
the target, `testFraction` of conf/base/train.yaml), fits imputation,
one-hot encoding and the forest on the training rows only, and writes:

- `model`: the bundle the registry, the gate and the model server use —
  `model.joblib` (the fitted scikit-learn pipeline), `features.json` and
  `predict.py` (python/predict.py, the code that serves it);
- `test`: the held-out rows (CSV) the evaluate step scores.
"""

# First: it names a missing library (and how to install it) if an import below fails.
from cairn_step import Step, file_from  # isort: skip

import json
import platform

import joblib
import pandas as pd
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import OneHotEncoder

step = Step()
config = step.config
target, numeric, categorical = config["target"], config["numeric"], config["categorical"]
features = numeric + categorical

data = pd.read_csv(step.input("data"))
data = data[data[target].notna()]
train, test = train_test_split(
    data, test_size=config["testFraction"], random_state=config["seed"], stratify=data[target]
)

model = Pipeline(
    [
        (
            "features",
            ColumnTransformer(
                [
                    ("numeric", SimpleImputer(strategy="median"), numeric),
                    (
                        "categorical",
                        make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
                        categorical,
                    ),
                ]
            ),
        ),
        (
            "forest",
            RandomForestClassifier(
                n_estimators=config["trees"],
                max_depth=config["maxDepth"],
                min_samples_leaf=config["minSamplesLeaf"],
                random_state=config["seed"],
            ),
        ),
    ]
)
model.fit(train[features], train[target])
step.log(f"training accuracy {model.score(train[features], train[target]):.4f} on {len(train)} rows")

joblib_path = f"{step.workdir}/model.joblib"
joblib.dump(model, joblib_path)
classes = [str(c) for c in model.classes_]
step.write_model(
    "model",
    files={
        "model.joblib": file_from(joblib_path),
        "features.json": json.dumps({"features": features, "numeric": numeric}),
        "predict.py": file_from("python/predict.py"),
    },
    signature={
        "inputs": [{"name": f, "type": "float64"} for f in numeric]
        + [{"name": f, "type": "category", "values": sorted(set(train[f].dropna().astype(str)))} for f in categorical],
        "outputs": [{"name": target, "type": "category", "values": classes}],
    },
    framework={"name": "scikit-learn", "version": sklearn.__version__},
    libraries={"python": platform.python_version(), "scikit-learn": sklearn.__version__, "pandas": pd.__version__, "joblib": joblib.__version__},
    metadata={"entry": "predict.py", "target": target, "trainRows": len(train)},
)
test.to_csv(step.output("test"), index=False)
