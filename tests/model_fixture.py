"""A small real model for tests: ``build_test_model(out_dir)`` trains and exports one.

Tiny preset, trained on generated records until it finds PER / LOC / PHONE entities;
about 45 s on 2 cores. The lead's conftest caches it per test session. Training is
deterministic: the same code and generator give the same model.
"""
from __future__ import annotations

from pathlib import Path

from nerlake.udfs.modeling import build_model_from_examples
from nerlake.udfs.sample_generator import generate_records

TRAIN_RECORDS = 3000
TRAIN_SEED = 7


def generated_records(n: int, seed: int) -> list[dict]:
    """n generated records without the generator's defects (null, blank, over-long text)."""
    return list(generate_records(n, seed, defect_rate=0.0))


def checkpoint_dir_for(model_dir) -> Path:
    """Where build_test_model keeps the torch checkpoint of ``model_dir`` (for re-exports,
    e.g. an fp32 twin of the int8 model)."""
    model_dir = Path(model_dir)
    return model_dir.with_name(model_dir.name + "-checkpoint")


def build_test_model(out_dir, *, quantize: bool = True, steps: int = 500) -> Path:
    """Train a tiny int8 model on generated records into ``out_dir``; returns its path.

    Measured on the shared 2-core machine: ~45 s in all (40 s of training; up to ~75 s
    while other work loads the machine), held-out span F1 0.54 over all labels (PER / LOC /
    PHONE recall 0.69 / 0.71 / 0.52). One torch thread (2 threads ran 5x slower next to
    other processes) and no dropout (a few hundred steps from scratch need none).
    """
    examples = [(r["text"], r["gold"]) for r in generated_records(TRAIN_RECORDS, TRAIN_SEED)]
    return build_model_from_examples(
        examples, Path(out_dir), preset="tiny", steps=steps, batch_size=16, max_length=128,
        seed=0, lr=2e-3, quantize=quantize, name="test-model", version="0.0.1", progress=False,
        checkpoint_dir=checkpoint_dir_for(out_dir), num_threads=1, dropout=0.0,
    )
