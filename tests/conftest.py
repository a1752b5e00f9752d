"""Session fixtures: one local SparkSession, one small real ONNX model, generated records."""
from __future__ import annotations

import os
import sys

import pytest

# Python workers must run this interpreter, where nerlake is installed.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


@pytest.fixture(scope="session")
def spark():
    from nerlake.jobs.config import SparkConfig
    from nerlake.jobs.spark import get_spark

    session = get_spark(SparkConfig(master="local[2]", app_name="nerlake-tests", log_level="ERROR", conf={
        "spark.sql.shuffle.partitions": "2",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.execution.arrow.maxRecordsPerBatch": "256",
    }))
    yield session
    session.stop()


@pytest.fixture(scope="session")
def test_model_dir(tmp_path_factory):
    """A small real int8 ONNX model trained on generated records (the real export path)."""
    from model_fixture import build_test_model

    return build_test_model(tmp_path_factory.mktemp("model") / "test-model")


@pytest.fixture(scope="session")
def sample_records():
    from nerlake.udfs.sample_generator import generate_records

    return list(generate_records(400, seed=7, defect_rate=0.0))
