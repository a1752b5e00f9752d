"""Export a trained checkpoint to an int8 ONNX model directory, gate it on dev F1, register it.

    nerlake export --checkpoint runs/vi-domain/best --out models/vi-domain-0.2.0 \\
        --name vi-domain --version 0.2.0 --dev vi_generated [--max-f1-drop 0.5]

Exports fp32 and int8 (legacy exporter with dynamic batch and sequence axes, ORT BERT
fusion, dynamic int8 quantisation), checks torch/ONNX logit parity, evaluates both on the
dev split through the extraction code path, and FAILS (exit 1, nothing registered) when
int8 loses more than ``--max-f1-drop`` F1 points. A passing model is appended to the
``models`` registry, from which ``nerlake extract`` selects it by ``model.name`` and
``model.version`` (``latest`` or pinned).
"""
if __name__ == "__main__" and not __package__:  # spark-submit jobs/export.py
    from nerlake.jobs.entry import run_installed

    run_installed("nerlake.jobs.export")

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
from pathlib import Path

import pyarrow as pa

from ..udfs.config import ConfigError
from ..udfs.model_dir import ModelDir, write_json
from ..udfs.tables import SCHEMAS
from . import lake
from .extract import add_config_arguments
from .runlog import JobRun, job_main

JOB = "export"


class ExportGateError(RuntimeError):
    """int8 lost more dev F1 than allowed; nothing was registered."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nerlake export", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True, help="a training run's best/ directory")
    p.add_argument("--out", required=True, help="model directory to write")
    p.add_argument("--name", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--dev", help="DATASET[:SPLIT] in training_examples for the F1 gate (split default dev)")
    p.add_argument("--max-f1-drop", type=float, default=0.5, help="F1 points int8 may lose against fp32")
    p.add_argument("--label-level", choices=["standard", "core"], default="standard",
                   help="label level of the --dev gold (core: PER/LOC/ORG models)")
    p.add_argument("--no-register", action="store_true")
    p.add_argument("--lake", help="lake root (overrides lake.root)")
    add_config_arguments(p)
    return p


def registry_rows(lake_root: str) -> list[dict]:
    dt_ = lake.open_table(lake.table_uri(lake_root, "models"))
    return [] if dt_ is None else pa.table(dt_.to_pyarrow_table()).to_pylist()


def _version_key(version: str):
    """Orders "0.2.0" < "1.0.0-rc1" < "1.0.0" < "1.10.0"; never compares a number with text."""
    base, _, pre = version.lstrip("vV").partition("-")

    def parts(text: str):
        return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in text.split(".") if p)

    return parts(base), pre == "", parts(pre)


def lookup_model(lake_root: str, name: str, version: str = "latest") -> dict:
    """The registry row of ``name`` at ``version`` (``latest``: the highest version)."""
    rows = [r for r in registry_rows(lake_root) if r["name"] == name]
    if not rows:
        raise ConfigError(f"model {name!r} is not in the registry under {lake_root}/models; "
                          "register it with nerlake export or set model.path")
    if version == "latest":
        return max(rows, key=lambda r: _version_key(r["version"]))
    for r in rows:
        if r["version"] == version:
            return r
    raise ConfigError(f"model {name!r} has no version {version!r}; registered: "
                      f"{', '.join(sorted(r['version'] for r in rows))}")


def _set_card(model_dir: Path, name: str, version: str) -> dict:
    card_path = model_dir / "model_card.json"
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card.update(name=name, version=version)
    write_json(card_path, card)
    return card


def run_export(cfg, args, spark=None) -> dict:
    from ..udfs.modeling import export_onnx
    from .evaluate import run_evaluate

    out = Path(args.out).resolve()
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty: export to a new directory")
    with JobRun(cfg, JOB, input_path=str(args.checkpoint), model_name=args.name, model_version=args.version) as run:
        if any(r["name"] == args.name and r["version"] == args.version for r in registry_rows(run.lake_root)):
            raise ConfigError(f"model {args.name} {args.version} is already registered: choose a new version")
        export_onnx(args.checkpoint, out, quantize=True)
        card = _set_card(out, args.name, args.version)
        metrics = dict(card.get("metrics", {}))
        if args.dev:
            with tempfile.TemporaryDirectory(prefix="nerlake-fp32-") as tmp:
                fp32 = export_onnx(args.checkpoint, Path(tmp) / "fp32", quantize=False)
                _set_card(fp32, args.name, args.version + "+fp32")
                f1_fp32 = run_evaluate(cfg, str(fp32), args.dev, None, spark=spark,
                                       label_level=args.label_level)["micro"]["f1"]
            f1_int8 = run_evaluate(cfg, str(out), args.dev, None, spark=spark, label_level=args.label_level)["micro"]["f1"]
            drop = 100 * (f1_fp32 - f1_int8)
            metrics.update(dev=args.dev, dev_f1_fp32=f1_fp32, dev_f1_int8=f1_int8, int8_f1_drop_points=drop)
            if drop > args.max_f1_drop:
                shutil.rmtree(out)
                raise ExportGateError(f"int8 loses {drop:.2f} F1 points on {args.dev} (fp32 {f1_fp32:.4f}, int8 "
                                      f"{f1_int8:.4f}) > --max-f1-drop {args.max_f1_drop}; nothing was registered")
            card["metrics"] = metrics
            write_json(out / "model_card.json", card)
        ModelDir.load(out)
        checkpoint_card = Path(args.checkpoint) / "nerlake_card.json"
        lineage = {"checkpoint": str(Path(args.checkpoint).resolve()), "training_data": card.get("training_data"),
                   "checkpoint_card": json.loads(checkpoint_card.read_text()) if checkpoint_card.exists() else None}
        if not args.no_register:
            lake.append_rows(lake.table_uri(run.lake_root, "models"), "models", pa.Table.from_pylist([dict(
                name=args.name, version=args.version, path=str(out), labels=list(card["labels"]),
                metrics=json.dumps(metrics, default=str), conf_hash=cfg.conf_hash(),
                data_lineage=json.dumps(lineage, default=str), created_at=dt.datetime.now(dt.timezone.utc))],
                schema=SCHEMAS["models"]))
        run.succeeded(records_in=1, records_processed=1, records_quarantined=0)
    result = {"model_dir": str(out), "name": args.name, "version": args.version, "metrics": metrics,
              "registered": not args.no_register}
    print(json.dumps(result, ensure_ascii=False, indent=2, default=str))
    return result


def main(argv=None) -> int:
    def run(cfg, args):
        try:
            run_export(cfg, args)
        except ExportGateError as exc:
            print(f"nerlake export: {exc}", file=sys.stderr)
            raise SystemExit(1)

    return job_main("nerlake export", build_parser(), argv, run)


if __name__ == "__main__":
    sys.exit(main())
