"""Configuration loading: layers, overrides and the errors a user sees before Spark starts."""
from __future__ import annotations

import pytest

from nerlake.jobs.config import JobConfig, load_config, parse_set
from nerlake.jobs.extract import main as extract_main
from nerlake.udfs.config import ConfigError


def test_defaults_load_and_validate():
    cfg = load_config()
    assert isinstance(cfg, JobConfig)
    assert cfg.lake.root == "./lakehouse"
    assert cfg.spark.conf["spark.sql.shuffle.partitions"] == "4"  # from the local overlay


def test_profiles_overlay_defaults():
    assert load_config(profile="cluster").spark.conf["spark.sql.shuffle.partitions"] == "400"
    assert "spark.sql.shuffle.partitions" not in load_config(profile="none").spark.conf


def test_conf_file_then_set_override(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("lake:\n  root: /data/lake\nextract:\n  max_chars: 500\n")
    cfg = load_config([f], ["extract.max_chars=900", "input.passthrough=[lang]"])
    assert cfg.lake.root == "/data/lake"
    assert cfg.extract.max_chars == 900
    assert cfg.input.passthrough == ["lang"]


def test_conf_hash_changes_with_config():
    assert load_config().conf_hash() == load_config().conf_hash()
    assert load_config().conf_hash() != load_config(overrides=["extract.max_chars=10"]).conf_hash()


@pytest.mark.parametrize("overrides, message", [
    (["extrct.max_chars=5"], "unknown key extrct"),
    (["extract.max_char=5"], "unknown key extract.max_char"),
    (["extract.max_chars=0"], "extract.max_chars"),
    (["extract.max_chars=many"], "extract.max_chars: expected an integer"),
    (["lake.writer=iceberg"], "lake.writer: 'iceberg' is not allowed; choose one of auto, deltalake, spark-delta"),
    (["input.format=xml"], "input.format"),
    (["extract.rules=maybe"], "extract.rules: expected true or false"),
    (["input.passthrough=lang"], "input.passthrough: expected a list"),
    (["ner.no_such_key=1"], "unknown key ner.no_such_key"),
    (["rules.no_such_key=1"], "unknown key rules.no_such_key"),
    (["merge.no_such_key=1"], "unknown key merge.no_such_key"),
    (["novalue"], "dotted.key=value"),
    (["rules.enabled=[phonee]"], "phonee"),
    (["merge.steps=[no_such_step]"], "merge.steps"),
    (["input.passthrough=[channel]"], "input.passthrough: 'channel' is not allowed"),
])
def test_bad_values_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        load_config(overrides=overrides)


def test_missing_and_malformed_conf_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config([tmp_path / "nope.yaml"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("lake: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config([bad])
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping at the top level"):
        load_config([listy])


def test_unknown_profile():
    with pytest.raises(ConfigError, match="--profile"):
        load_config(profile="laptop")


def test_parse_set_builds_nested_values():
    assert parse_set("a.b.c=3") == {"a": {"b": {"c": 3}}}
    assert parse_set("a=[1, 2]") == {"a": [1, 2]}
    assert parse_set("a=hello world") == {"a": "hello world"}


@pytest.mark.parametrize("argv, message", [
    (["--date", "2024-13-01", "--input", "x.parquet"], "--date"),
    (["--date", "2024-03-12"], "input.path is not set"),
    (["--date", "2024-03-12", "--input", "x.parquet", "--set", "extract.max_chars=-1"], "extract.max_chars"),
    (["--date", "2024-03-12", "--input", "x.parquet", "--model", "/no/such/model"], "model"),
    (["--date", "2024-03-12", "--input", "s3a://bucket/day/"], "cannot tell the format"),
    (["--date", "2024-03-12", "--input", "s3a://bucket/day/", "--format", "parquet", "--set", "ner.stride=500"],
     "ner.stride"),
])
def test_extract_stops_before_spark_on_bad_config(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.parquet").write_bytes(b"")  # exists, so the error is the one under test
    assert extract_main(argv) == 2
    err = capsys.readouterr().err
    assert "configuration error" in err and message in err
