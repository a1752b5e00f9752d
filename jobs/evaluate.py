"""Strict entity-level evaluation of a model (or the whole hybrid pipeline) against gold.

    nerlake evaluate --model models/vi-domain --gold vi_generated            # dev split
    nerlake evaluate --model DIR --gold uner_da_ddt:dev --mode model
    nerlake evaluate --model DIR --gold-file data/sample.parquet --mode hybrid
    nerlake evaluate --model models/multi-core --gold uner_da_ddt --gold uner_sv_talbanken \
        --label-level core --write-card

``--label-level core`` scores the gold mapped to PER/LOC/ORG by each dataset's label map
(what a core-type model is trained on); ``--write-card`` records each gold's scores in the
model card (``metrics.dev_by_gold``).

Predictions come from the same code as the extraction job (``udfs/pipeline.py``):
``model`` runs the ONNX model alone, ``hybrid`` runs rules + model + merge. Scores are
strict mention-level precision, recall and F1 (micro, macro, per type; equal to seqeval's
strict IOB2 mode) with error categories (exact, wrong type, boundary, boundary and type,
missing, spurious). The report is printed as JSON and appended to ``evaluations``.
"""
if __name__ == "__main__" and not __package__:  # spark-submit jobs/evaluate.py
    from nerlake.jobs.entry import run_installed

    run_installed("nerlake.jobs.evaluate")

import argparse
import datetime as dt
import json
import logging
import sys
import uuid
from dataclasses import asdict
from functools import partial
from pathlib import Path

from ..udfs.config import ConfigError
from ..udfs.model_dir import ModelDir, ModelDirError
from ..udfs.pipeline import PipelineSpec
from ..udfs.training_glue import EVAL_SCHEMA, predict_partition
from . import lake
from .config import load_config
from .extract import add_config_arguments

log = logging.getLogger("nerlake.evaluate")
JOB = "evaluate"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nerlake evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="model directory")
    gold = p.add_mutually_exclusive_group(required=True)
    gold.add_argument("--gold", action="append", help="DATASET[:SPLIT] in training_examples (split default: "
                                                     "dev); repeatable: one report per gold")
    gold.add_argument("--gold-file", help="a sample-generator Parquet/JSONL file (text + gold spans) or "
                                          "a JSON/JSONL span file ({text, label: [[start, end, type]]})")
    p.add_argument("--mode", choices=["model", "hybrid"], default="model")
    p.add_argument("--limit", type=int, default=0, help="evaluate at most N documents")
    p.add_argument("--no-collapse-groups", action="store_true",
                   help="score fine labels (CHEST/WAIST/HIP) as they are instead of as their group")
    p.add_argument("--label-level", choices=["standard", "core"], default="standard",
                   help="core: map --gold spans to PER/LOC/ORG with each dataset's label map (others dropped)")
    p.add_argument("--write-card", action="store_true",
                   help="record the scores in the model card's metrics.dev_by_gold (one entry per gold)")
    p.add_argument("--lake", help="lake root (overrides lake.root)")
    add_config_arguments(p)
    return p


def core_gold_spans(dataset: str, registry_path: str | None):
    """The ``spans`` column mapped to core types by ``dataset``'s label map, dropped types left out."""
    from pyspark.sql import functions as F

    from ..udfs.corpora import load_registry
    from ..udfs.schedule import relabel_tables

    table = relabel_tables([dataset], "core", "drop", load_registry(registry_path))[dataset]
    dropped = "\u0000dropped"
    mapping = F.create_map(*[F.lit(x) for k, v in sorted(table.items()) for x in (k, v if v is not None else dropped)])
    relabelled = F.transform("spans", lambda s: s.withField("label", F.coalesce(mapping[s["label"]], s["label"])))
    return F.filter(relabelled, lambda s: s["label"] != F.lit(dropped)).alias("spans")


def gold_frame(spark, cfg, gold: str | None, gold_file: str | None, problems: list, label_level: str = "standard"):
    """Gold documents; gold records that cannot be scored are appended to ``problems``."""
    from pyspark.sql import functions as F

    if gold:
        from deltalake import DeltaTable

        dataset, _, split = gold.partition(":")
        uri = lake.table_uri(cfg.lake.root, "training_examples")
        if lake.open_table(uri) is None:
            raise ConfigError(f"no training_examples table under {cfg.lake.root}: run nerlake ingest first")
        files = DeltaTable(uri).file_uris(file_pruning_predicate=[("dataset", "=", dataset), ("split", "=", split or "dev")])
        if not files:
            raise ConfigError(f"training_examples has no rows for {dataset}:{split or 'dev'}")
        df = spark.read.option("basePath", uri).parquet(*files)
        spans = core_gold_spans(dataset, cfg.ingest.registry) if label_level == "core" else F.col("spans")
        return df.select(F.col("example_id").alias("doc_id"), "text", spans)
    if label_level != "standard":
        raise ConfigError("--label-level core needs --gold (a dataset with a label map), not --gold-file")
    path = Path(gold_file)
    if not path.exists():
        raise ConfigError(f"gold file {gold_file} does not exist")
    from ..udfs.corpora import read_jsonl_spans, read_sample_parquet

    reader = read_sample_parquet if path.suffix == ".parquet" else read_jsonl_spans
    examples = list(reader(path, dataset="gold", split="test", on_error="collect", problems=problems))
    rows = [{"doc_id": e.example_id, "text": e.text, "spans": e.spans} for e in examples]
    if not rows:
        raise ConfigError(f"gold file {gold_file} holds no usable documents")
    return spark.createDataFrame(rows, "doc_id string, text string, spans array<struct<start:int,end:int,label:string>>")


def run_evaluate(cfg, model_dir: str, gold: str | None, gold_file: str | None, mode: str = "model",
                 limit: int = 0, collapse_groups: bool = True, spark=None, label_level: str = "standard") -> dict:
    from pyspark.sql.pandas.types import from_arrow_schema

    from ..udfs.metrics import Scorer
    from .spark import SparkProgress, get_spark

    card = ModelDir.load(model_dir)
    # model: the ONNX model's own spans (no merge step); hybrid: the extraction job's pipeline
    merge = asdict(cfg.merge) if mode == "hybrid" else {"steps": []}
    spec = PipelineSpec(model_dir=str(Path(model_dir).resolve()), ner=asdict(cfg.ner),
                        rules=asdict(cfg.rules) if mode == "hybrid" else None, merge=merge)
    created = dt.datetime.now(dt.timezone.utc)
    run_id = f"evaluate-{created.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    spark = spark or get_spark(cfg.spark)
    problems: list = []
    df = gold_frame(spark, cfg, gold, gold_file, problems, label_level)
    for p in problems[:20]:
        log.warning("gold left out of the score: %s", p)
    if limit:
        df = df.orderBy("doc_id").limit(limit)
    fn = partial(predict_partition, spec_json=spec.to_json(), collapse_groups=collapse_groups,
                 run_date=created.date().isoformat())
    with SparkProgress(spark, "evaluate", cfg.extract.progress):
        rows = df.mapInArrow(fn, from_arrow_schema(EVAL_SCHEMA)).collect()
    scorer = Scorer()
    for r in sorted(rows, key=lambda r: r["doc_id"]):
        to_spans = lambda js: [{"start": s, "end": e, "label": l} for s, e, l in json.loads(js)]  # noqa: E731
        scorer.add_spans(to_spans(r["gold"]), to_spans(r["pred"]), where=r["doc_id"])
    report = scorer.report().to_dict()
    report["gold_left_out"] = [str(p) for p in problems]  # never scored silently: listed here
    result = {"run_id": run_id, "model": card.name, "version": card.version, "gold": gold or gold_file,
              "mode": mode, "label_level": label_level, **report}
    micro, macro = report["micro"], report["macro"]
    import pyarrow as pa

    from ..udfs.tables import SCHEMAS

    lake.append_rows(lake.table_uri(cfg.lake.root, "evaluations"), "evaluations", pa.Table.from_pylist([dict(
        run_id=run_id, created_at=created, model_name=card.name, model_version=card.version, model_path=model_dir,
        gold=gold or gold_file, mode=mode, documents=report["documents"], precision=micro["precision"],
        recall=micro["recall"], f1=micro["f1"], macro_f1=macro["f1"], report=json.dumps(report))],
        schema=SCHEMAS["evaluations"]))
    return result


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    args = build_parser().parse_args(argv)
    overrides = list(args.overrides) + ([f"lake.root={json.dumps(args.lake)}"] if args.lake else [])
    try:
        cfg = load_config(args.conf, overrides, profile=args.profile)
        spark = None
        results = []
        for gold in args.gold or [None]:
            results.append(run_evaluate(cfg, args.model, gold, args.gold_file, args.mode, args.limit,
                                        not args.no_collapse_groups, spark=spark, label_level=args.label_level))
            if spark is None:
                from .spark import get_spark
                spark = get_spark(cfg.spark)
        if args.write_card:
            write_card_metrics(args.model, results)
    except (ConfigError, ModelDirError) as exc:
        print(f"nerlake evaluate: configuration error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(results[0] if len(results) == 1 else {"evaluations": results, "summary": summary(results)},
                     ensure_ascii=False, indent=2))
    return 0


def summary(results: list[dict]) -> dict:
    """gold -> the headline scores of its report."""
    return {r["gold"]: {"documents": r["documents"], "micro_f1": r["micro"]["f1"], "precision": r["micro"]["precision"],
                        "recall": r["micro"]["recall"], "macro_f1": r["macro"]["f1"], "mode": r["mode"],
                        "label_level": r["label_level"]} for r in results}


def write_card_metrics(model_dir: str, results: list[dict]) -> None:
    """Record each gold's headline scores in the card's ``metrics.dev_by_gold`` (others kept)."""
    from ..udfs.model_dir import CARD_FILE, write_json

    path = Path(model_dir) / CARD_FILE
    card = json.loads(path.read_text(encoding="utf-8"))
    metrics = card.setdefault("metrics", {})
    metrics["dev_by_gold"] = {**metrics.get("dev_by_gold", {}), **summary(results)}
    write_json(path, card)
    ModelDir.load(model_dir)


if __name__ == "__main__":
    sys.exit(main())
