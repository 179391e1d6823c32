/**
 * The program a `python` model's worker process runs, kept here as text so
 * that it ships inside the bundled package (`files: ["dist"]`) and is written
 * next to the unpacked model when a worker starts.
 *
 * Protocol, one JSON object per line: the worker first writes
 * `{"ready": true, "python": "3.11.2"}` (or `{"ready": false, "error": …}` and
 * exits 1); then for each request `{"id": 1, "rows": [...]}` read from stdin
 * it writes `{"id": 1, "predictions": [...]}` or `{"id": 1, "error": {…}}`.
 * It exits when stdin closes, so a worker never outlives the process that
 * started it.
 */
export const WORKER_SOURCE = String.raw`import importlib.util
import json
import os
import sys
import traceback

# Exceptions a model raises for rows it cannot use: the caller's fault (HTTP 400).
BAD_INPUT = (ValueError, KeyError, TypeError)


def plain(value):
    """numpy arrays and scalars (what scikit-learn returns) as JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def describe(error, bad_input):
    lines = traceback.format_exception(type(error), error, error.__traceback__)
    return {
        "type": type(error).__name__,
        "message": str(error),
        "badInput": bad_input,
        "traceback": "".join(lines[-3:]),
    }


def main():
    model_dir, entry = sys.argv[1], sys.argv[2]
    # The protocol owns the real stdout; whatever the model prints goes to stderr.
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def send(text):
        protocol.write(text + "\n")
        protocol.flush()

    try:
        sys.path.insert(0, model_dir)
        spec = importlib.util.spec_from_file_location("cairn_model_entry", os.path.join(model_dir, entry))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not callable(getattr(module, "load", None)):
            raise TypeError(f"{entry} defines no load(model_dir) function")
        model = module.load(model_dir)
        if not callable(getattr(model, "predict", None)):
            raise TypeError(f"load() in {entry} returned {type(model).__name__}, which has no predict(rows) method")
    except Exception as error:
        send(json.dumps({"ready": False, "error": describe(error, False)}))
        return 1
    send(json.dumps({"ready": True, "python": sys.version.split()[0]}))

    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        request_id = request.get("id")
        try:
            predictions = model.predict(request["rows"])
        except Exception as error:
            send(json.dumps({"id": request_id, "error": describe(error, isinstance(error, BAD_INPUT))}))
            continue
        try:
            answer = json.dumps({"id": request_id, "predictions": predictions}, default=plain, allow_nan=False)
        except Exception as error:
            error = TypeError(f"the predictions are not JSON: {error}")
            send(json.dumps({"id": request_id, "error": describe(error, False)}))
            continue
        send(answer)
    return 0


sys.exit(main())
`;
