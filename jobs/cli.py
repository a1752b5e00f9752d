"""The ``nerlake`` command: one subcommand per job.

Each job module also runs on its own with the same arguments, e.g.
``spark-submit jobs/extract.py --date 2024-03-12 --input ...``.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> (module under nerlake.jobs, one-line help)
JOBS = {
    "extract": ("extract", "the nightly job: records -> rules + ONNX NER -> Delta tables"),
    "generate-sample": ("generate_sample", "write synthetic Vietnamese records with gold entity spans"),
    "ingest": ("ingest", "read gold NER corpora and generated gold into the training_examples table"),
    "generate-annotations": ("generate_annotations", "ask an LLM to annotate raw passages (answers to llm_responses)"),
    "filter-generated": ("filter_generated", "filter LLM answers into one-type samples and BIO training examples"),
    "augment": ("augment", "augment training data: mention swap and synonym replacement, as <dataset>_aug"),
    "pretrain": ("pretrain", "masked-LM pretraining on unlabelled text: a base model for train"),
    "train": ("train", "fine-tune a token-classification model through TorchDistributor"),
    "export": ("export", "export a checkpoint to int8 ONNX, gate it on dev F1 and register it"),
    "evaluate": ("evaluate", "strict entity-level F1 of a model or the hybrid pipeline against gold"),
    "build-model": ("build_model", "train a small bootstrap NER model on generated records and export it to ONNX"),
    "config": ("show_config", "print the effective configuration (after overlays, --conf and --set)"),
}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="nerlake", description="Named-entity recognition as nightly Spark jobs.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in JOBS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in JOBS:
        parser.error(f"unknown command {command!r}; choose one of {', '.join(JOBS)}")
    module = importlib.import_module(f"nerlake.jobs.{JOBS[command][0]}")
    return module.main(rest)


if __name__ == "__main__":
    sys.exit(main())
