"""Scores an applicant Parquet file with Spark (local[2]) two ways and checks both against
`credrisk score` on the same rows, bit for bit:

1. `mlflow.pyfunc.spark_udf(spark, MODEL_URI, env_manager="local")`: the model's python_function
   flavor pipes each pandas batch through the binary;
2. `DataFrame.mapInArrow`: each partition's Arrow batches piped straight through one
   `credrisk score --data - --out -` process.

Both write Parquet; the rows they wrote are then scored by `credrisk score` directly and the
probabilities compared exactly. Prints one JSON line: rows, files, partitions, matches, seconds.
Needs JAVA_HOME (Java 17), CREDRISK_BIN, MLFLOW_TRACKING_URI.
"""

import argparse
import json
import os
import shutil
import subprocess
import threading
import time

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from mlflow.models import Model

import mlflow
from pyspark.sql import SparkSession
from pyspark.sql.types import DoubleType, StructField, StructType


def direct_scores(binary, model_dir, frame, path):
    """`credrisk score` on exactly these rows (written as Parquet), its probabilities."""
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    out = path + ".scores.parquet"
    started = time.perf_counter()
    subprocess.run([binary, "score", "--model", model_dir, "--data", path, "--out", out, "--quiet"], check=True)
    return pq.read_table(out).column("probability").to_pylist(), time.perf_counter() - started


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", required=True, help="model URI for spark_udf (e.g. models:/name@alias)")
    ap.add_argument("--model-dir", required=True, help="the same model's directory, for credrisk score")
    ap.add_argument("--binary", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--partitions", type=int, default=4)
    a = ap.parse_args()
    binary, model_dir = os.path.abspath(a.binary), os.path.abspath(a.model_dir)
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    work = os.path.abspath(a.work)
    inputs = Model.load(os.path.join(model_dir, "MLmodel")).signature.inputs.input_names()

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("credrisk-score-test")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", str(a.partitions))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        # A partitioned dataset, as a data platform holds it.
        spark.read.parquet(os.path.abspath(a.data)).select(*inputs).repartition(a.partitions).write.parquet(
            f"{work}/applicants"
        )
        applicants = spark.read.parquet(f"{work}/applicants")
        partitions = applicants.rdd.getNumPartitions()
        files = len([f for f in os.listdir(f"{work}/applicants") if f.endswith(".parquet")])

        udf = mlflow.pyfunc.spark_udf(spark, a.model, env_manager="local")
        started = time.perf_counter()
        applicants.withColumn("probability", udf(*inputs)).write.parquet(f"{work}/by_udf")
        udf_seconds = time.perf_counter() - started

        def pipe(batches):
            proc = subprocess.Popen(
                [binary, "score", "--model", model_dir, "--data", "-", "--out", "-", "--quiet"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            scored = []
            reader = threading.Thread(target=lambda: scored.extend(pa.ipc.open_stream(proc.stdout)))
            reader.start()
            sent = []
            writer = None
            for batch in batches:
                if writer is None:
                    writer = pa.ipc.new_stream(proc.stdin, batch.schema)
                writer.write_batch(batch)
                sent.append(batch)
            if writer is not None:
                writer.close()
            proc.stdin.close()
            reader.join()
            if proc.wait() != 0:
                raise RuntimeError(proc.stderr.read().decode())
            # One output batch per input batch, in order.
            for given, answer in zip(sent, scored, strict=True):
                columns = given.columns + [answer.column(answer.schema.get_field_index("probability"))]
                yield pa.RecordBatch.from_arrays(columns, names=given.schema.names + ["probability"])

        # A new schema: StructType.add would change the DataFrame's own (cached) schema.
        out_schema = StructType(applicants.schema.fields + [StructField("probability", DoubleType())])
        started = time.perf_counter()
        applicants.mapInArrow(pipe, out_schema).write.parquet(f"{work}/by_arrow")
        arrow_seconds = time.perf_counter() - started
    finally:
        spark.stop()

    report = {"files": files, "partitions": partitions, "spark_udf_seconds": udf_seconds, "map_in_arrow_seconds": arrow_seconds}
    for name, folder in [("spark_udf", "by_udf"), ("map_in_arrow", "by_arrow")]:
        frame = pd.read_parquet(f"{work}/{folder}")
        direct, seconds = direct_scores(binary, model_dir, frame[inputs], f"{work}/{folder}.rows.parquet")
        got = frame["probability"].tolist()
        report["rows"] = len(frame)
        report[f"{name}_equal"] = sum(x == y for x, y in zip(got, direct, strict=True))
        report["direct_seconds"] = seconds
    print(json.dumps(report))


if __name__ == "__main__":
    main()
