import json

import pytest

from nerlake.udfs.model_dir import (CARD_FIELDS, REQUIRED_FILES, ModelDir, ModelDirError,
                                    entity_labels_from_bio, write_json)

BIO = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def valid_card(**changes):
    card = {
        "name": "vi-ner", "version": "1.2.0", "languages": ["vi"], "labels": ["PER", "LOC"],
        "training_data": "generated records", "metrics": {"f1": 0.9},
        "created_at": "2024-01-01T00:00:00+00:00", "max_length": 128, "quantized": True,
        "base_model": "bert-tiny",
    }
    card.update(changes)
    return card


def make_dir(root, *, bio=BIO, card=None):
    root.mkdir(parents=True, exist_ok=True)
    # ModelDir.load does not parse the ONNX graph (OnnxNer does): any bytes do here.
    (root / "model.onnx").write_bytes(b"\x08\x07")
    write_json(root / "tokenizer.json", {"version": "1.0", "model": {"type": "WordPiece"}})
    write_json(root / "tokenizer_config.json", {"cls_token": "[CLS]"})
    write_json(root / "labels.json", bio)
    write_json(root / "model_card.json", card if card is not None else valid_card())
    return root


def test_valid_directory_loads_with_its_properties(tmp_path):
    model = ModelDir.load(make_dir(tmp_path / "m"))
    assert (model.name, model.version, model.max_length, model.quantized) == ("vi-ner", "1.2.0", 128, True)
    assert model.entity_labels == ("PER", "LOC")
    assert model.bio_labels == tuple(BIO)
    assert set(model.paths) == set(REQUIRED_FILES)
    assert model.model_path == tmp_path / "m" / "model.onnx"
    assert all(p.is_file() for p in model.paths.values())


def test_missing_directory(tmp_path):
    with pytest.raises(ModelDirError, match="not a model directory"):
        ModelDir.load(tmp_path / "nowhere")


@pytest.mark.parametrize("name", REQUIRED_FILES)
def test_missing_file_is_named(tmp_path, name):
    root = make_dir(tmp_path / "m")
    (root / name).unlink()
    with pytest.raises(ModelDirError, match=f"missing file.*{name}"):
        ModelDir.load(root)


def test_empty_model_file(tmp_path):
    root = make_dir(tmp_path / "m")
    (root / "model.onnx").write_bytes(b"")
    with pytest.raises(ModelDirError, match="model.onnx: empty"):
        ModelDir.load(root)


@pytest.mark.parametrize("name", ["labels.json", "model_card.json", "tokenizer.json", "tokenizer_config.json"])
def test_malformed_json_names_the_file(tmp_path, name):
    root = make_dir(tmp_path / "m")
    (root / name).write_text('{"name": "x",', encoding="utf-8")
    with pytest.raises(ModelDirError, match=f"{name}: malformed JSON"):
        ModelDir.load(root)


@pytest.mark.parametrize("bio, problem", [
    (["B-PER", "I-PER", "O"], "must start with"),
    (["O", "B-PER"], "no I-PER"),
    (["O", "I-PER"], "no B-PER"),
    (["O", "B-PER", "I-PER", "B-PER"], "duplicate"),
    (["O", "PER"], "is not O, B-<label> or I-<label>"),
    (["O", "X-PER"], "is not O, B-<label> or I-<label>"),
    (["O", "B-"], "is not O, B-<label> or I-<label>"),
    ([], "non-empty list"),
    ({"O": 0}, "non-empty list"),
    (["O", 3], "non-empty list"),
])
def test_bad_bio_labels(tmp_path, bio, problem):
    root = make_dir(tmp_path / "m", bio=bio)
    with pytest.raises(ModelDirError, match="labels.json: not a valid BIO label list") as err:
        ModelDir.load(root)
    assert problem in str(err.value)


@pytest.mark.parametrize("field", list(CARD_FIELDS))
def test_card_missing_field_is_named(tmp_path, field):
    card = valid_card()
    del card[field]
    with pytest.raises(ModelDirError, match=f"model_card.json: missing required field.*{field}"):
        ModelDir.load(make_dir(tmp_path / "m", card=card))


@pytest.mark.parametrize("field, value", [
    ("quantized", "yes"), ("max_length", True), ("max_length", "128"), ("languages", "vi"),
    ("metrics", []), ("name", None), ("labels", "PER,LOC"),
])
def test_card_field_of_wrong_type(tmp_path, field, value):
    with pytest.raises(ModelDirError, match=f"field '{field}' must be"):
        ModelDir.load(make_dir(tmp_path / "m", card=valid_card(**{field: value})))


def test_card_labels_must_match_labels_json(tmp_path):
    with pytest.raises(ModelDirError, match="do not match labels.json"):
        ModelDir.load(make_dir(tmp_path / "m", card=valid_card(labels=["LOC", "PER"])))


def test_card_must_be_an_object(tmp_path):
    with pytest.raises(ModelDirError, match="must be a JSON object"):
        ModelDir.load(make_dir(tmp_path / "m", card=[1, 2]))


def test_card_max_length_too_small(tmp_path):
    with pytest.raises(ModelDirError, match="max_length must be >= 3"):
        ModelDir.load(make_dir(tmp_path / "m", card=valid_card(max_length=2)))


def test_tokenizer_json_without_model_section(tmp_path):
    root = make_dir(tmp_path / "m")
    write_json(root / "tokenizer.json", {"version": "1.0"})
    with pytest.raises(ModelDirError, match="tokenizer.json: not a tokenizers file"):
        ModelDir.load(root)


@pytest.mark.parametrize("bio, entities", [
    (["O"], []),
    (BIO, ["PER", "LOC"]),
    (["O", "I-LOC", "B-LOC", "B-PHONE", "I-PHONE"], ["LOC", "PHONE"]),
    (["O", "B-LICENSE_PLATE", "I-LICENSE_PLATE"], ["LICENSE_PLATE"]),
])
def test_entity_labels_from_bio(bio, entities):
    assert entity_labels_from_bio(bio) == entities


def test_write_json_keeps_vietnamese_readable(tmp_path):
    write_json(tmp_path / "c.json", {"name": "Mô hình"})
    raw = (tmp_path / "c.json").read_text(encoding="utf-8")
    assert "Mô hình" in raw and json.loads(raw) == {"name": "Mô hình"}
