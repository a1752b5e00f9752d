"""Training schedules (udfs/schedule.py) and how ``nerlake train`` builds one from its flags."""
from __future__ import annotations

from importlib import resources

import pytest
import yaml

from nerlake.jobs.train import build_parser, schedule_from_args
from nerlake.udfs.config import ConfigError
from nerlake.udfs.corpora import load_registry
from nerlake.udfs.schedule import label_map_of, load_schedule, relabel_spans, relabel_tables

TWO_PHASES = {
    "name": "m", "model": "scratch:tiny", "mixing": "fraction",
    "phases": [
        {"name": "english", "datasets": {"wikigold": 1.0}, "label_level": "core", "epochs": 2},
        {"name": "target", "datasets": {"uner_da_ddt": 1.0, "wikigold": 0.25}, "label_level": "core", "lr": 2e-4},
    ],
}


def write(tmp_path, data) -> str:
    path = tmp_path / "schedule.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


def test_a_two_phase_schedule_loads(tmp_path):
    schedule = load_schedule(write(tmp_path, TWO_PHASES))
    assert [p.name for p in schedule.phases] == ["english", "target"]
    assert schedule.phases[1].train_datasets() == {"uner_da_ddt": 1.0, "wikigold": 0.25}
    assert schedule.phases[1].dev_datasets() == ["uner_da_ddt", "wikigold"]
    assert schedule.all_train_datasets() == ["uner_da_ddt", "wikigold"]


@pytest.mark.parametrize("recipe", ["multi-core.yaml"])
def test_packaged_recipes_load(recipe):
    path = resources.files("nerlake.conf") / "recipes" / recipe
    schedule = load_schedule(str(path))
    registry = load_registry()
    for phase in schedule.phases:  # every dataset is a registered corpus or the generator's gold
        assert all(d in registry or d == "vi_generated" for d in phase.datasets)


@pytest.mark.parametrize("change, message", [
    ({"phases": []}, "phases"),
    ({"phases": [{"name": "a", "datasets": {}}]}, "phases\\[0\\].datasets"),
    ({"phases": [{"name": "a", "datasets": {"x": 0.0}}]}, "datasets"),
    ({"phases": [{"name": "a", "datasets": {"x": 1}}, {"name": "a", "datasets": {"x": 1}}]}, "used twice"),
    ({"phases": [{"name": "../a", "datasets": {"x": 1}}]}, "folder name"),
    ({"phases": [{"name": "a", "datasets": {"x": 1}, "label_level": "fine"}]}, "standard, core"),
    ({"phases": [{"name": "a", "datasets": {"x": 1}, "epochs": 0}]}, "epochs"),
    ({"phases": [{"name": "a", "datasets": {"x": 1}, "learning_rate": 1}]}, "unknown key phases\\[0\\].learning_rate"),
    ({"mixing": "even"}, "absolute, proportional, fraction"),
])
def test_bad_schedules_name_the_key(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        load_schedule(write(tmp_path, {**TWO_PHASES, **change}))


def test_missing_schedule_file(tmp_path):
    with pytest.raises(ConfigError, match="no file"):
        load_schedule(str(tmp_path / "nope.yaml"))


def args(*argv):
    return build_parser().parse_args(["--out", "x", *argv])


def test_flags_build_one_phase():
    schedule = schedule_from_args(args("--dataset", "vi_generated", "--dataset", "wnut17=0.5", "--epochs", "2",
                                       "--model", "scratch:small"))
    (phase,) = schedule.phases
    assert phase.datasets == {"vi_generated": 1.0, "wnut17": 0.5} and phase.epochs == 2
    assert schedule.model == "scratch:small" and schedule.batch_size == 16


def test_flags_given_override_the_schedule(tmp_path):
    schedule = schedule_from_args(args("--schedule", write(tmp_path, TWO_PHASES), "--max-steps-per-epoch", "3",
                                       "--batch-size", "4"))
    assert [p.max_steps_per_epoch for p in schedule.phases] == [3, 3] and schedule.batch_size == 4
    assert [p.epochs for p in schedule.phases] == [2, 1]  # not given: the schedule's


@pytest.mark.parametrize("argv, message", [
    ((), "--dataset"),
    (("--dataset", "a", "--schedule", "s.yaml"), "not both"),
    (("--dataset", "a=lots"), "must be a number"),
    (("--dataset", "a", "--epochs", "0"), "epochs"),
])
def test_bad_flags(argv, message):
    with pytest.raises(ConfigError, match=message):
        schedule_from_args(args(*argv))


def test_core_relabelling_uses_each_datasets_label_map():
    registry = load_registry()
    tables = relabel_tables(["uner_hr_set", "crossner_politics", "vi_generated", "vi_generated_aug"], "core", "drop",
                            registry)
    assert tables["uner_hr_set"]["PER"] == "PER" and tables["uner_hr_set"]["MISC"] is None  # OTH: dropped
    assert tables["crossner_politics"]["POLITICIAN"] == "PER"
    assert tables["vi_generated"]["PHONE"] is None and tables["vi_generated_aug"]["ORG"] == "ORG"
    assert relabel_tables(["uner_hr_set"], "core", "MISC", registry)["uner_hr_set"]["MISC"] == "MISC"
    assert relabel_tables(["uner_hr_set"], "standard", "drop", registry) == {}
    assert label_map_of("wikigold", registry) == "conll4" and label_map_of("vi_generated", registry) == "nerlake"


def test_relabel_spans_maps_drops_and_keeps_unknown_labels():
    spans = [{"start": 0, "end": 3, "label": "POLITICIAN"}, {"start": 4, "end": 6, "label": "ELECTION"},
             {"start": 7, "end": 9, "label": "NEW_TYPE"}]
    table = {"POLITICIAN": "PER", "ELECTION": None}
    assert relabel_spans(spans, table) == [{"start": 0, "end": 3, "label": "PER"},
                                           {"start": 7, "end": 9, "label": "NEW_TYPE"}]
    assert relabel_spans(spans, None) == spans
