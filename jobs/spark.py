"""SparkSession creation and job progress, shared by every job."""
from __future__ import annotations

import logging
import os
import shutil
import sys
import threading
import time

from .config import SparkConfig

log = logging.getLogger(__name__)

JAVA_HELP = (
    "Spark needs Java 17 and none was found (no `java` on PATH and no JAVA_HOME).\n"
    "Install it, then run the command again:\n"
    "  Debian/Ubuntu: sudo apt-get install -y openjdk-17-jre-headless\n"
    "  macOS:         brew install openjdk@17\n"
    "  or set JAVA_HOME to an existing JDK 17."
)


class JavaMissingError(RuntimeError):
    pass


def ensure_java() -> None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and os.path.exists(os.path.join(java_home, "bin", "java")):
        return
    if shutil.which("java") is None:
        raise JavaMissingError(JAVA_HELP)


def launched_by_spark_submit() -> bool:
    # spark-submit starts the JVM first and hands Python the gateway port.
    return "PYSPARK_GATEWAY_PORT" in os.environ


def get_spark(cfg: SparkConfig, extra_conf: dict | None = None):
    ensure_java()
    from pyspark.sql import SparkSession

    # Local Python workers must run this interpreter (the one with nerlake installed).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(cfg.app_name)
    if not launched_by_spark_submit():
        builder = builder.master(cfg.master)
    settings = {
        "spark.sql.session.timeZone": "UTC",
        "spark.python.worker.reuse": "true",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    }
    settings.update(cfg.conf)
    settings.update(extra_conf or {})
    for key, value in settings.items():
        builder = builder.config(key, str(value))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(cfg.log_level)
    return spark


class SparkProgress:
    """Prints one progress line for the running Spark job (tasks done / total, elapsed)."""

    def __init__(self, spark, label: str, enabled: bool = True, interval: float = 2.0, stream=sys.stderr):
        self.tracker = spark.sparkContext.statusTracker()
        self.label, self.enabled, self.interval, self.stream = label, enabled, interval, stream
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._start = time.monotonic()

    def __enter__(self):
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self.enabled:
            self._thread.join(timeout=5)
            self.stream.write("\n")
            self.stream.flush()

    def _line(self) -> str:
        done = total = 0
        for stage_id in self.tracker.getActiveStageIds():
            info = self.tracker.getStageInfo(stage_id)
            if info:
                done += info.numCompletedTasks
                total += info.numTasks
        elapsed = time.monotonic() - self._start
        tasks = f"tasks {done}/{total}" if total else "waiting for tasks"
        return f"\r[{self.label}] {tasks}  {elapsed:6.1f}s"

    def _loop(self):
        while not self._stop.wait(self.interval):
            try:
                self.stream.write(self._line())
                self.stream.flush()
            except Exception:  # progress must never break the job
                return
