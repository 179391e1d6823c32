"""Cairn's side of a Python step, so that a step script is plain Python.

Cairn runs each script as a command step (steps/*.ts say which). Before it
starts, the step's resolved config (conf/base/<step>.yaml, conf/<env>/,
--set) is written as JSON and every input artifact is laid out in a folder;
the script must leave each declared output in the outputs folder. The paths
come in environment variables (CAIRN_CONFIG, CAIRN_INPUTS, CAIRN_OUTPUTS,
CAIRN_WORKDIR); this module reads them so the script does not have to:

    from cairn_step import Step

    step = Step()
    rows = pandas.read_csv(step.input("data"))
    step.log(f"read {len(rows)} rows")
    step.write_metrics("metrics", {"accuracy": 0.97})

Lines printed to stdout become the step's log (stderr lines are warnings);
`step.fail(message)` ends the step with that message and a non-zero exit, so
the run fails naming it. The working directory is the project folder.
"""

import json
import math
import os
import shutil
import sys


def _missing_library_hint(kind, error, trace):
    _previous_hook(kind, error, trace)
    if issubclass(kind, ModuleNotFoundError):
        print(
            f"{sys.executable} has no module {error.name!r}: install requirements.txt into it "
            "(pip install -r requirements.txt), or set CAIRN_PYTHON to a Python that has it",
            file=sys.stderr,
        )


# Imported before the libraries a script uses, so a missing library is named with its fix.
_previous_hook = sys.excepthook
sys.excepthook = _missing_library_hint


class Step:
    def __init__(self):
        try:
            config_path = os.environ["CAIRN_CONFIG"]
            self.inputs_dir = os.environ["CAIRN_INPUTS"]
            self.outputs_dir = os.environ["CAIRN_OUTPUTS"]
        except KeyError as missing:
            sys.exit(f"{missing} is not set: run this script through Cairn (npx cairn run), not by hand")
        #: Scratch folder for this attempt; removed after the step.
        self.workdir = os.environ.get("CAIRN_WORKDIR", self.outputs_dir)
        #: Node name of the step in the pipeline.
        self.name = os.environ.get("CAIRN_STEP", "")
        self.run_id = os.environ.get("CAIRN_RUN_ID", "")
        with open(config_path, encoding="utf-8") as file:
            #: The validated config: a dict, as the step's schema in steps/<step>.ts parsed it.
            self.config = json.load(file)

    # -- inputs ------------------------------------------------------------

    def input(self, name):
        """Path of input artifact `name`: a file (file, json, metrics) or a folder (model, report)."""
        path = os.path.join(self.inputs_dir, name)
        if not os.path.exists(path):
            self.fail(f'no input named "{name}" (this step has: {", ".join(sorted(os.listdir(self.inputs_dir))) or "none"})')
        return path

    def read_json(self, name):
        """The value of a json or metrics input."""
        with open(self.input(name), encoding="utf-8") as file:
            return json.load(file)

    def project_path(self, path):
        """A path from config, relative to the project folder (absolute paths stay as they are)."""
        return path if os.path.isabs(path) else os.path.join(os.getcwd(), path)

    # -- outputs -----------------------------------------------------------

    def output(self, name):
        """Where to write output artifact `name` (a file path; for a folder output, create it there)."""
        return os.path.join(self.outputs_dir, name)

    def write_json(self, name, value):
        """Write a json output (any JSON value; NaN and infinities are refused)."""
        with open(self.output(name), "w", encoding="utf-8") as file:
            json.dump(value, file, allow_nan=False, default=_plain)

    def write_metrics(self, name, values):
        """Write a metrics output: a flat map of names to finite numbers."""
        clean = {}
        for key, value in values.items():
            number = float(value)
            if not math.isfinite(number):
                self.fail(f'metric "{key}" is {number}: metrics must be finite numbers')
            clean[str(key)] = number
        self.write_json(name, clean)

    def write_report(self, name, markdown, title=None):
        """Write a report output from Markdown (`cairn report latest` shows it)."""
        folder = self.output(name)
        os.makedirs(folder, exist_ok=True)
        info = {"format": "markdown"}
        if title is not None:
            info["title"] = title
        with open(os.path.join(folder, "report.json"), "w", encoding="utf-8") as file:
            json.dump(info, file)
        with open(os.path.join(folder, "index.md"), "w", encoding="utf-8") as file:
            file.write(markdown)

    def write_model(self, name, files, signature, flavor="python", framework=None, libraries=None, metadata=None):
        """Write a model bundle: the manifest Cairn reads plus its payload files.

        `files` maps a file name in the bundle to bytes, a str (written as
        UTF-8), or `file_from(path)` to copy a file
        (`{"predict.py": file_from("python/predict.py")}`).
        `signature` is `{"inputs": [{"name", "type", "values"?}], "outputs": [...]}`.
        """
        folder = self.output(name)
        payload = os.path.join(folder, "files")
        os.makedirs(payload, exist_ok=True)
        for file_name, content in files.items():
            target = os.path.join(payload, *file_name.split("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if isinstance(content, _FromFile):
                shutil.copyfile(content.path, target)
            else:
                with open(target, "wb") as file:
                    file.write(content.encode("utf-8") if isinstance(content, str) else content)
        manifest = {"flavor": flavor, "signature": signature}
        if framework is not None:
            manifest["framework"] = framework
        if libraries is not None:
            manifest["libraries"] = libraries
        if metadata is not None:
            manifest["metadata"] = metadata
        with open(os.path.join(folder, "cairn-model.json"), "w", encoding="utf-8") as file:
            json.dump(manifest, file, allow_nan=False, default=_plain)

    # -- logging -----------------------------------------------------------

    def log(self, message):
        print(message, flush=True)

    def warn(self, message):
        print(message, file=sys.stderr, flush=True)

    def fail(self, message):
        """End the step: the run fails with this message (the last lines of stderr)."""
        print(message, file=sys.stderr, flush=True)
        sys.exit(1)


class _FromFile:
    def __init__(self, path):
        self.path = path


def file_from(path):
    """A bundle file copied from `path` (for `Step.write_model`)."""
    return _FromFile(path)


def _plain(value):
    # numpy and pandas values (what scikit-learn returns) as JSON values.
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
