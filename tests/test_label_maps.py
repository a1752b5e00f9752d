"""Per-dataset label maps (udfs/label_maps.py, conf/label_maps/*.yaml)."""
from __future__ import annotations

from collections import Counter

import pytest

from nerlake.udfs.config import ConfigError
from nerlake.udfs.examples import Example
from nerlake.udfs.labels import LABELS
from nerlake.udfs.label_maps import (UnknownLabelError, available_label_maps, label_key, load_label_map,
                                     map_example, map_labels)
from nerlake.udfs.merge import collapse_labels, load_label_groups


def mapped_type(map_name: str, label: str, level: str, other: str | None = None) -> str:
    (tag,), unknown = map_labels([f"B-{label}"], load_label_map(map_name, other=other), level)
    assert not unknown
    return tag[2:] if tag != "O" else "O"


def test_packaged_maps_load():
    assert {"uner", "crossner", "wnut17", "conll4", "nerlake", "generic"} <= set(available_label_maps())
    for name in available_label_maps():
        assert load_label_map(name).name == name


@pytest.mark.parametrize("map_name, label, standard, core", [
    ("crossner", "person", "PER", "PER"),
    ("crossner", "politician", "POLITICIAN", "PER"),
    ("crossner", "scientist", "SCIENTIST", "PER"),
    ("crossner", "musicalartist", "MUSICAL_ARTIST", "PER"),
    ("crossner", "band", "BAND", "ORG"),
    ("crossner", "university", "UNIVERSITY", "ORG"),
    ("crossner", "politicalparty", "POLITICAL_PARTY", "ORG"),
    ("crossner", "organisation", "ORG", "ORG"),
    ("crossner", "country", "COUNTRY", "LOC"),
    ("crossner", "location", "LOC", "LOC"),
    ("crossner", "song", "SONG", "O"),  # other: drop
    ("crossner", "misc", "MISC", "O"),
    ("wnut17", "corporation", "ORG", "ORG"),
    ("wnut17", "group", "ORG", "ORG"),
    ("wnut17", "person", "PER", "PER"),
    ("wnut17", "location", "LOC", "LOC"),
    ("wnut17", "product", "PRODUCT", "O"),
    ("wnut17", "creative-work", "CREATIVE_WORK", "O"),
    ("uner", "OTH", "MISC", "O"),
    ("uner", "PER", "PER", "PER"),
    ("conll4", "MISC", "MISC", "MISC"),  # other: MISC
    ("generic", "ORGANISATION", "ORG", "ORG"),
    ("generic", "Organization", "ORG", "ORG"),
    ("generic", "CORPORATION", "ORG", "ORG"),
    ("generic", "GPE", "LOC", "LOC"),
    ("generic", "phone number", "PHONE", "O"),
    ("nerlake", "ADDRESS", "ADDRESS", "O"),
])
def test_standard_and_core_levels(map_name, label, standard, core):
    assert mapped_type(map_name, label, "standard") == standard
    assert mapped_type(map_name, label, "core") == core


@pytest.mark.parametrize("map_name, label, core_with_misc", [
    ("crossner", "song", "MISC"),
    ("crossner", "politician", "PER"),
    ("uner", "OTH", "MISC"),
    ("wnut17", "creative-work", "MISC"),
])
def test_other_can_be_overridden(map_name, label, core_with_misc):
    assert mapped_type(map_name, label, "core", other="MISC") == core_with_misc
    assert mapped_type("conll4", "MISC", "core", other="drop") == "O"


@pytest.mark.parametrize("spelling", ["creative-work", "Creative Work", "CREATIVE_WORK", "creativework"])
def test_keys_match_across_case_and_separators(spelling):
    assert label_key(spelling) == "creativework"
    assert mapped_type("wnut17", spelling, "standard") == "CREATIVE_WORK"


def test_bio_prefixes_and_sequences_are_kept():
    labels = ["B-politician", "I-politician", "O", "B-band", "I-band", "B-song", "I-song", "B-country"]
    out, unknown = map_labels(labels, load_label_map("crossner"), "core")
    assert out == ["B-PER", "I-PER", "O", "B-ORG", "I-ORG", "O", "O", "B-LOC"]
    assert unknown == Counter()


def test_unknown_labels_raise_when_strict():
    label_map = load_label_map("wnut17")
    with pytest.raises(UnknownLabelError, match=r"dragon \(2\)") as info:
        map_labels(["B-dragon", "I-dragon", "O", "B-person", "B-ship"], label_map)
    assert info.value.counts == Counter({"dragon": 2, "ship": 1})


def test_unknown_labels_are_counted_and_left_out_when_not_strict():
    label_map = load_label_map("wnut17")
    out, unknown = map_labels(["B-dragon", "I-dragon", "O", "B-person", "B-ship"], label_map, strict=False)
    assert out == ["O", "O", "O", "B-PER", "O"]
    assert unknown == Counter({"dragon": 2, "ship": 1})
    # the cached tag table must not hide unknowns on a second call
    _, again = map_labels(["B-dragon"], label_map, strict=False)
    assert again == Counter({"dragon": 1})


def test_bad_level_and_bad_tag_are_refused():
    label_map = load_label_map("uner")
    with pytest.raises(ValueError, match="standard, core"):
        map_labels(["O"], label_map, "fine")
    with pytest.raises(ValueError, match="bad BIO label"):
        map_labels(["PER"], label_map)


def test_collapse_groups_follows_the_merge_label_groups():
    label_map = load_label_map("nerlake")
    labels = ["B-CHEST", "I-CHEST", "O", "B-WAIST", "B-HIP", "B-PER"]
    plain, _ = map_labels(labels, label_map)
    assert plain == labels
    collapsed, _ = map_labels(labels, label_map, collapse_groups=True)
    assert collapsed == collapse_labels(labels, load_label_groups())
    assert collapsed[0] == "B-BODY_MEASUREMENT" and collapsed[-1] == "B-PER"
    custom, _ = map_labels(labels, label_map, collapse_groups=True, groups={"TORSO": {"CHEST": [], "WAIST": []}})
    assert custom == ["B-TORSO", "I-TORSO", "O", "B-TORSO", "B-HIP", "B-PER"]


def test_nerlake_map_covers_the_project_labels():
    label_map = load_label_map("nerlake")
    out, unknown = map_labels([f"B-{label}" for label in LABELS], label_map)
    assert not unknown and out == [f"B-{label}" for label in LABELS]


def test_map_example_recomputes_spans():
    ex = Example("wnut17", "train", "w:0", "en", "social", ["Acme", "Inc", "rocks"],
                 ["B-corporation", "I-corporation", "O"])
    out, unknown = map_example(ex, load_label_map("wnut17"), "core")
    assert out.labels == ["B-ORG", "I-ORG", "O"]
    assert out.spans == [{"start": 0, "end": 8, "label": "ORG"}]
    assert out.text == ex.text and not unknown


@pytest.mark.parametrize("yaml_text, message", [
    ("name: bad\nstandard: {person: PER}\ncore: {PER: CITY}\n", "core"),
    ("name: bad\nstandard: {person: PER}\ncore: {WRITER: PER}\n", "core.WRITER is not a standardised name"),
    ("name: bad\nstandard: {person: per}\n", "standard"),
    ("name: bad\nstandard: {}\n", "standard"),
    ("name: bad\nstandard: {person: PER, Person: ORG}\n", "collides"),
    ("name: bad\nstandard: {person: PER}\nother: keep\n", "other"),
    ("name: bad\nstandard: {person: PER}\ncolour: red\n", "unknown key colour"),
])
def test_bad_map_files_raise_config_errors(tmp_path, yaml_text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_label_map(path)


def test_unknown_map_name_lists_the_packaged_maps():
    with pytest.raises(ConfigError, match="crossner"):
        load_label_map("no_such_map")
