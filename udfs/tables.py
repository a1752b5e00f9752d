"""Schemas of the tables the extraction job writes (the contract analysts query).

Later issues may add columns to these schemas, never rename or retype one.
Partition columns are stored in the Delta log, not in the Parquet files (Delta's rule),
so ``file_schema`` drops them.
"""
from __future__ import annotations

import pyarrow as pa

ENTITIES = pa.schema([
    ("run_id", pa.string()),
    ("ingest_date", pa.date32()),
    ("record_id", pa.string()),
    ("start", pa.int32()),  # character offset into the ORIGINAL text
    ("end", pa.int32()),  # exclusive
    ("text", pa.string()),  # exactly original[start:end]
    ("label", pa.string()),
    ("score", pa.float64()),  # 0..1
    ("source", pa.string()),  # rule | model | merged
    ("normalized", pa.string()),  # canonical value or null
    ("model_version", pa.string()),
    ("model_name", pa.string()),
    ("extractor", pa.string()),  # the rule or merge step that produced the span, or null
    ("lang", pa.string()),  # passed through from the input when present
    ("domain", pa.string()),  # passed through from the input when present
])

QUARANTINE = pa.schema([
    ("run_id", pa.string()),
    ("ingest_date", pa.date32()),
    ("record_id", pa.string()),
    ("text_preview", pa.string()),
    ("reason", pa.string()),
])

RUNS = pa.schema([
    ("run_id", pa.string()),
    ("job", pa.string()),
    ("date", pa.date32()),
    ("started_at", pa.timestamp("us", tz="UTC")),
    ("finished_at", pa.timestamp("us", tz="UTC")),
    ("status", pa.string()),  # succeeded | failed
    ("error", pa.string()),
    ("conf_hash", pa.string()),
    ("model_name", pa.string()),
    ("model_version", pa.string()),
    ("input_path", pa.string()),
    ("writer", pa.string()),  # deltalake | spark-delta
    ("records_in", pa.int64()),
    ("records_processed", pa.int64()),
    ("records_quarantined", pa.int64()),
    ("entities_out", pa.int64()),
    ("entities_by_label", pa.map_(pa.string(), pa.int64())),
    ("entities_by_source", pa.map_(pa.string(), pa.int64())),
    ("quarantine_by_reason", pa.map_(pa.string(), pa.int64())),
    ("stage_seconds", pa.map_(pa.string(), pa.float64())),
])

# ---- training side -------------------------------------------------------------------

SPAN = pa.struct([("start", pa.int32()), ("end", pa.int32()), ("label", pa.string())])

# Every labelled example, gold or generated or augmented; one partition per (dataset, split),
# replaced as a whole when that pair is ingested again.
TRAINING_EXAMPLES = pa.schema([
    ("dataset", pa.string()),
    ("split", pa.string()),
    ("example_id", pa.string()),
    ("lang", pa.string()),
    ("domain", pa.string()),
    ("tokens", pa.list_(pa.string())),
    ("labels", pa.list_(pa.string())),  # BIO, after repair and label mapping
    ("text", pa.string()),
    ("spans", pa.list_(SPAN)),  # character offsets into text
    ("source", pa.string()),  # the file or job the example came from
    ("run_id", pa.string()),
])

# Per-run facts of the training-data jobs (repair counts, filter counts, ...), long format.
DATA_REPORTS = pa.schema([
    ("run_id", pa.string()),
    ("job", pa.string()),
    ("dataset", pa.string()),
    ("split", pa.string()),
    ("metric", pa.string()),
    ("value", pa.float64()),
])

# Raw LLM answers, one row per chunk asked; appended. passage_hash identifies the request
# (model, prompt, language, chunk text): rows without error are never asked for again.
LLM_RESPONSES = pa.schema([
    ("run_id", pa.string()),
    ("passage_id", pa.string()),
    ("passage_hash", pa.string()),
    ("chunk_index", pa.int32()),
    ("chunk_start", pa.int32()),
    ("chunk_end", pa.int32()),
    ("chunk_text", pa.string()),
    ("oversized", pa.bool_()),
    ("model", pa.string()),
    ("prompt_version", pa.string()),
    ("response_text", pa.string()),
    ("http_status", pa.int32()),
    ("attempts", pa.int32()),
    ("latency_s", pa.float64()),
    ("error", pa.string()),
    ("created_at", pa.timestamp("us", tz="UTC")),
])

# Open-domain training format: one passage, one type, every mention of it.
GENERATED_SAMPLES = pa.schema([
    ("dataset", pa.string()),
    ("run_id", pa.string()),
    ("passage_id", pa.string()),
    ("passage_hash", pa.string()),
    ("passage", pa.string()),
    ("type", pa.string()),
    ("mentions", pa.list_(pa.string())),
])

# LLM answers the filters could not use, with the reason.
GENERATED_QUARANTINE = pa.schema([
    ("dataset", pa.string()),
    ("run_id", pa.string()),
    ("passage_id", pa.string()),
    ("passage_hash", pa.string()),
    ("reason", pa.string()),
    ("detail", pa.string()),
    ("response_preview", pa.string()),
])

# One row per evaluation: headline scores as columns, the full report (per type, error
# categories, confusions) as JSON.
EVALUATIONS = pa.schema([
    ("run_id", pa.string()),
    ("created_at", pa.timestamp("us", tz="UTC")),
    ("model_name", pa.string()),
    ("model_version", pa.string()),
    ("model_path", pa.string()),
    ("gold", pa.string()),  # dataset/split or file path
    ("mode", pa.string()),  # model | hybrid
    ("documents", pa.int64()),
    ("precision", pa.float64()),  # strict, micro
    ("recall", pa.float64()),
    ("f1", pa.float64()),
    ("macro_f1", pa.float64()),
    ("report", pa.string()),  # JSON
])

# The model registry: every exported model directory the extraction job may select.
MODELS = pa.schema([
    ("name", pa.string()),
    ("version", pa.string()),
    ("path", pa.string()),
    ("labels", pa.list_(pa.string())),
    ("metrics", pa.string()),  # JSON: parity, dev F1 fp32 and int8, ...
    ("conf_hash", pa.string()),
    ("data_lineage", pa.string()),  # JSON: datasets, training run, checkpoint
    ("created_at", pa.timestamp("us", tz="UTC")),
])

PARTITION_BY = {"entities": ["ingest_date"], "quarantine": ["ingest_date"], "runs": [],
                "training_examples": ["dataset", "split"], "data_reports": [], "llm_responses": [],
                "generated_samples": ["dataset"], "generated_quarantine": ["dataset"], "evaluations": [], "models": []}
SCHEMAS = {"entities": ENTITIES, "quarantine": QUARANTINE, "runs": RUNS,
           "training_examples": TRAINING_EXAMPLES, "data_reports": DATA_REPORTS, "llm_responses": LLM_RESPONSES,
           "generated_samples": GENERATED_SAMPLES, "generated_quarantine": GENERATED_QUARANTINE,
           "evaluations": EVALUATIONS, "models": MODELS}


def file_schema(table: str) -> pa.Schema:
    schema = SCHEMAS[table]
    for name in PARTITION_BY[table]:
        schema = schema.remove(schema.get_field_index(name))
    return schema
