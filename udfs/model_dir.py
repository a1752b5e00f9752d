"""The model directory contract: what a model ships as, and its validation on load.

A model is a directory holding

- ``model.onnx``            the token-classification graph (inputs ``input_ids`` and
                            ``attention_mask``, output ``logits`` [batch, sequence, labels]);
- ``tokenizer.json``        a Hugging Face ``tokenizers`` file, plus ``tokenizer_config.json``
                            naming its special tokens;
- ``labels.json``           the BIO label list, index = logit index (``["O", "B-PER", ...]``);
- ``model_card.json``       name, version, languages, entity labels, training data,
                            metrics, created_at, max_length, quantized, base model.

:meth:`ModelDir.load` checks all of it up front (on the driver, before any executor
loads the model) and raises :class:`ModelDirError` naming the file and the problem.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
LABELS_FILE = "labels.json"
CARD_FILE = "model_card.json"
REQUIRED_FILES = (MODEL_FILE, TOKENIZER_FILE, TOKENIZER_CONFIG_FILE, LABELS_FILE, CARD_FILE)

# card field -> (accepted types, meaning); bool is excluded from int explicitly below.
CARD_FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    "name": ((str,), "model name"),
    "version": ((str,), "model version"),
    "languages": ((list,), "language codes, e.g. [\"vi\"]"),
    "labels": ((list,), "entity labels, in labels.json order"),
    "training_data": ((str,), "description of the training data"),
    "metrics": ((dict,), "evaluation figures"),
    "created_at": ((str,), "ISO-8601 creation time"),
    "max_length": ((int,), "tokens per window the model was trained for, incl. special tokens"),
    "quantized": ((bool,), "whether model.onnx holds int8 weights"),
    "base_model": ((str,), "architecture preset or base checkpoint"),
}


class ModelDirError(ValueError):
    """The model directory breaks the contract; the message names the file and problem."""


def entity_labels_from_bio(bio: list[str]) -> list[str]:
    """The entity types of a BIO label list, in order of first appearance.

    Raises ``ValueError`` unless the list starts with ``O``, has no duplicates, and every
    ``B-X`` has its ``I-X`` and vice versa.
    """
    if not isinstance(bio, list) or not bio or not all(isinstance(x, str) for x in bio):
        raise ValueError("must be a non-empty list of strings")
    if bio[0] != "O":
        raise ValueError(f"must start with \"O\", starts with {bio[0]!r}")
    duplicates = sorted({x for x in bio if bio.count(x) > 1})
    if duplicates:
        raise ValueError(f"duplicate labels {duplicates}")
    entities: list[str] = []
    for tag in bio[1:]:
        prefix, _, entity = tag.partition("-")
        if prefix not in ("B", "I") or not entity:
            raise ValueError(f"{tag!r} is not O, B-<label> or I-<label>")
        if entity not in entities:
            entities.append(entity)
    for entity in entities:
        for prefix in ("B", "I"):
            if f"{prefix}-{entity}" not in bio:
                raise ValueError(f"{entity} has no {prefix}-{entity}")
    return entities


def _read_json(path: Path):
    try:
        with path.open(encoding="utf-8") as f:
            return json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelDirError(f"{path}: malformed JSON ({exc})") from None


def _check_card(card, path: Path) -> None:
    if not isinstance(card, dict):
        raise ModelDirError(f"{path}: must be a JSON object, got {type(card).__name__}")
    missing = [k for k in CARD_FIELDS if k not in card]
    if missing:
        raise ModelDirError(f"{path}: missing required field(s) {', '.join(missing)}")
    for key, (types, meaning) in CARD_FIELDS.items():
        value = card[key]
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            raise ModelDirError(
                f"{path}: field {key!r} must be {'/'.join(t.__name__ for t in types)} "
                f"({meaning}), got {value!r}"
            )
    if card["max_length"] < 3:
        raise ModelDirError(f"{path}: max_length must be >= 3 (two special tokens + text), got {card['max_length']}")


@dataclass(frozen=True)
class ModelDir:
    """A validated model directory. Build with :meth:`load`."""

    path: Path
    card: dict
    bio_labels: tuple[str, ...]
    tokenizer_config: dict

    @classmethod
    def load(cls, path) -> "ModelDir":
        root = Path(path)
        if not root.is_dir():
            raise ModelDirError(f"{root}: not a model directory (does not exist or is not a directory)")
        missing = [name for name in REQUIRED_FILES if not (root / name).is_file()]
        if missing:
            raise ModelDirError(f"{root}: missing file(s) {', '.join(missing)}")
        if (root / MODEL_FILE).stat().st_size == 0:
            raise ModelDirError(f"{root / MODEL_FILE}: empty file")

        labels_path = root / LABELS_FILE
        bio = _read_json(labels_path)
        try:
            entities = entity_labels_from_bio(bio)
        except ValueError as exc:
            raise ModelDirError(f"{labels_path}: not a valid BIO label list: {exc}") from None

        card_path = root / CARD_FILE
        card = _read_json(card_path)
        _check_card(card, card_path)
        if list(card["labels"]) != entities:
            raise ModelDirError(
                f"{card_path}: labels {card['labels']} do not match {LABELS_FILE} entity labels {entities}"
            )

        tok_json = _read_json(root / TOKENIZER_FILE)
        if not isinstance(tok_json, dict) or "model" not in tok_json:
            raise ModelDirError(f"{root / TOKENIZER_FILE}: not a tokenizers file (no \"model\" section)")
        tok_config_path = root / TOKENIZER_CONFIG_FILE
        tok_config = _read_json(tok_config_path)
        if not isinstance(tok_config, dict):
            raise ModelDirError(f"{tok_config_path}: must be a JSON object")
        return cls(path=root, card=card, bio_labels=tuple(bio), tokenizer_config=tok_config)

    @property
    def name(self) -> str:
        return self.card["name"]

    @property
    def version(self) -> str:
        return self.card["version"]

    @property
    def entity_labels(self) -> tuple[str, ...]:
        return tuple(self.card["labels"])

    @property
    def max_length(self) -> int:
        return self.card["max_length"]

    @property
    def quantized(self) -> bool:
        return self.card["quantized"]

    @property
    def paths(self) -> dict[str, Path]:
        """Contract file name -> its path in this directory."""
        return {name: self.path / name for name in REQUIRED_FILES}

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def tokenizer_path(self) -> Path:
        return self.path / TOKENIZER_FILE


def write_json(path, data) -> None:
    """Write JSON the way the contract files are written: UTF-8, readable, stable order."""
    Path(path).write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
