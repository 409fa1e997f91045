"""MLflow python_function loader of a credrisk model: each pandas batch goes through `credrisk score`
as an Arrow IPC stream, so MLflow tools (pyfunc.load_model, spark_udf) score with the binary itself.

Written into the model's `code/` directory by credrisk; needs pandas and pyarrow (MLflow's own
dependencies) and the `credrisk` binary, found through CREDRISK_BIN or PATH.
"""

import os
import shutil
import subprocess

import pandas as pd
import pyarrow as pa

# MLflow column types of the signature → the Arrow types `credrisk score` reads.
_ARROW_TYPES = {
    "long": pa.int64(),
    "integer": pa.int64(),
    "double": pa.float64(),
    "float": pa.float64(),
    "string": pa.string(),
    "boolean": pa.bool_(),
}


def _binary():
    configured = os.environ.get("CREDRISK_BIN")
    path = configured or shutil.which("credrisk")
    if not path or not (os.path.isfile(path) and os.access(path, os.X_OK)):
        where = f"CREDRISK_BIN={configured!r} is not an executable file" if configured else "credrisk is not on PATH"
        raise RuntimeError(
            f"credrisk binary not found ({where}): set CREDRISK_BIN to the binary's path "
            "or put credrisk on PATH (on Spark executors: ship it with --files and set CREDRISK_BIN)"
        )
    return path


def _flag(params, name):
    value = params.get(name, False)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


class CredriskModel:
    """What mlflow.pyfunc wraps: predict(DataFrame, params) -> DataFrame."""

    def __init__(self, model_dir):
        self.model_dir = os.path.abspath(model_dir)
        self.types = {}
        try:
            from mlflow.models import Model

            signature = Model.load(os.path.join(self.model_dir, "MLmodel")).signature
            if signature is not None and signature.inputs is not None:
                for spec in signature.inputs.inputs:
                    arrow_type = _ARROW_TYPES.get(spec.type.name)
                    if spec.name is not None and arrow_type is not None:
                        self.types[spec.name] = arrow_type
        except Exception:  # a model without a readable signature still scores by column names
            self.types = {}

    def _table(self, df):
        arrays, names = [], []
        for name in df.columns:
            column = df[name]
            arrow_type = self.types.get(str(name))
            try:
                array = pa.array(column, type=arrow_type, from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as e:
                raise ValueError(f"column {name!r}: cannot be read as {arrow_type}: {e}") from None
            arrays.append(array)
            names.append(str(name))
        return pa.Table.from_arrays(arrays, names=names)

    def predict(self, model_input, params=None):
        params = params or {}
        df = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        table = self._table(df)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        command = [_binary(), "score", "--model", self.model_dir, "--data", "-", "--out", "-", "--quiet"]
        if _flag(params, "explain"):
            command.append("--explain")
        if _flag(params, "reasons"):
            command += ["--reasons", "--lang", str(params.get("lang") or "es")]
        if _flag(params, "explain") or _flag(params, "reasons"):
            # What the SHAP values and reasons compare with: path, approved or cutoff.
            command += ["--reference", str(params.get("reference") or "path")]
        done = subprocess.run(command, input=sink.getvalue().to_pybytes(), capture_output=True, check=False)
        if done.returncode != 0:
            message = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise ValueError(message[-1] if message else f"credrisk score exited with {done.returncode}")
        scores = pa.ipc.open_stream(done.stdout).read_all().to_pandas()
        # The row number only says which input row each answer belongs to: the index does that.
        scores = scores.drop(columns=["row"], errors="ignore")
        scores.index = df.index
        return scores


def _load_pyfunc(path, model_config=None):
    return CredriskModel(path)
