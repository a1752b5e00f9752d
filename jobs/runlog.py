"""What every job does around its work: a run id, a ``runs`` row, one ``main`` shape."""
from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import uuid

from ..udfs.config import ConfigError
from . import lake
from .config import load_config


class JobRun:
    """``with JobRun(cfg, "augment") as run:`` … ``run.succeeded(records_in=…)``.

    Gives the run its id, the app-transaction version of its commits (later runs are
    larger) and the lake root, and appends its ``runs`` row on exit, failed with the error
    unless ``succeeded`` was called.
    """

    def __init__(self, cfg, job: str, **row):
        self.started = dt.datetime.now(dt.timezone.utc)
        self.run_id = f"{job}-{self.started.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
        self.version = int(self.started.timestamp() * 1_000_000)
        self.lake_root = lake.table_uri(cfg.lake.root, "").rstrip("/")
        self.row = dict(run_id=self.run_id, job=job, date=self.started.date(), started_at=self.started,
                        status="failed", conf_hash=cfg.conf_hash(), writer="deltalake", **row)

    def __enter__(self) -> "JobRun":
        return self

    def succeeded(self, **row) -> None:
        self.row.update(status="succeeded", **row)

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is not None:
            self.row.update(status="failed", error=f"{exc_type.__name__}: {exc}"[:2000])
        self.row["finished_at"] = dt.datetime.now(dt.timezone.utc)
        lake.record_run(self.lake_root, self.row)
        return False


def job_main(prog: str, parser, argv, run) -> int:
    """Parse, load the configuration (``--lake`` included), call ``run(cfg, args)``; exit 2 on a
    configuration error, before anything starts."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    args = parser.parse_args(argv)
    overrides = list(args.overrides)
    if getattr(args, "lake", None):
        overrides.append(f"lake.root={json.dumps(args.lake)}")
    try:
        run(load_config(args.conf, overrides, profile=args.profile), args)
    except ConfigError as exc:
        print(f"{prog}: configuration error: {exc}", file=sys.stderr)
        return 2
    return 0
