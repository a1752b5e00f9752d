"""The optional compiled rule stage (setup.py, NERLAKE_COMPILE=1): it builds, it is what gets
imported, the rule tests pass against it, and it finds exactly the spans the pure Python does.

The build takes about a minute on two cores, once per test session.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import unicodedata
from datetime import date
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

from nerlake.udfs.rules.common import strip_accents
from nerlake.udfs.rules.ruleset import RuleSet, compiled_modules
from nerlake.udfs.sample_generator import generate_records
from nerlake.udfs.textnorm import make_doc

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"

# The rule tests that import only the compiled modules' public API (no Spark, no model).
RULE_TESTS = sorted(str(p) for p in TESTS.glob("test_rules_*.py") if p.name != Path(__file__).name) + [
    str(TESTS / name) for name in ("test_ruleset.py", "test_spans.py", "test_textnorm.py")]


def _why_no_build() -> str | None:
    if importlib.util.find_spec("Cython") is None:
        return "Cython is not installed (the dev extra installs it)"
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        return f"no C compiler ({compiler}) on PATH"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists():
        return "this interpreter has no Python.h (install its development headers)"
    if compiled_modules():
        return "the nerlake under test is itself compiled: there is no pure build to compare with"
    return None


_NO_BUILD = _why_no_build()
pytestmark = pytest.mark.skipif(_NO_BUILD is not None, reason=_NO_BUILD or "")


@pytest.fixture(scope="module")
def compiled_lib(tmp_path_factory) -> Path:
    """A NERLAKE_COMPILE=1 build of nerlake (``setup.py build`` into a temporary directory)."""
    base = tmp_path_factory.mktemp("compiled")
    lib = base / "lib"
    build = subprocess.run(
        [sys.executable, "setup.py", "-q", "build", "--build-base", str(base / "build"),
         "--build-lib", str(lib), "-j", "2"],
        cwd=REPO, env={**os.environ, "NERLAKE_COMPILE": "1"}, capture_output=True, text=True)
    assert build.returncode == 0, f"compiled build failed:\n{build.stdout[-3000:]}\n{build.stderr[-5000:]}"
    return lib


def _run_with(lib: Path, code: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter that imports nerlake from ``lib``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(lib), str(TESTS)])}
    env.pop("NERLAKE_COMPILE", None)
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True)


def _extension_modules(lib: Path) -> set[str]:
    names = set()
    for path in lib.rglob("*"):
        suffix = next((s for s in EXTENSION_SUFFIXES if path.name.endswith(s)), None)
        if suffix:
            names.add(".".join(path.relative_to(lib).parts)[: -len(suffix)])
    return names


def test_build_compiles_the_rule_stage_and_it_is_what_gets_imported(compiled_lib, tmp_path):
    built = _extension_modules(compiled_lib)
    extractors = {f"nerlake.udfs.rules.{name}" for name in (
        "phone", "id_number", "order_code", "web", "license_plate", "gazetteer", "temporal", "money", "quantity")}
    assert extractors | {"nerlake.udfs.rules.ruleset", "nerlake.udfs.textnorm", "nerlake.udfs.spans"} <= built

    probe = _run_with(compiled_lib, (
        "import json; from nerlake.udfs.rules.ruleset import RuleSet, compiled_modules; "
        "RuleSet.from_config(None); print(json.dumps(compiled_modules()))"), cwd=tmp_path)
    assert probe.returncode == 0, probe.stderr
    assert set(json.loads(probe.stdout)) == built


def test_rule_tests_pass_against_the_compiled_build(compiled_lib, tmp_path):
    run = _run_with(compiled_lib, (
        "import sys, pytest; sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', *sys.argv[1:]]))"),
        *RULE_TESTS, cwd=tmp_path)
    assert run.returncode == 0, f"{run.stdout[-6000:]}\n{run.stderr[-3000:]}"
    assert " passed" in run.stdout and " failed" not in run.stdout


def _identity_records() -> list[tuple[str, str]]:
    """Generated records plus the same texts decomposed, upper-cased and unaccented."""
    records = [(r["text"], r["created_at"][:10]) for r in generate_records(2000, seed=23, defect_rate=0.0)
               if r["text"]]
    variants = [unicodedata.normalize("NFD", t) for t, _ in records[:300]] + [
        t.upper() for t, _ in records[300:600]] + [strip_accents(t) for t, _ in records[600:900]]
    return records + [(t, d) for t, (_, d) in zip(variants, records)]


def _spans_as_rows(ruleset, records) -> list[list[list]]:
    docs = [make_doc(text, date.fromisoformat(day)) for text, day in records]
    return [[[s.start, s.end, s.label, s.score, s.source, s.normalized, s.rule] for s in spans]
            for spans in ruleset.extract_many(docs)]


def test_compiled_build_finds_exactly_the_spans_pure_python_finds(compiled_lib, tmp_path):
    records = _identity_records()
    (tmp_path / "records.json").write_text(json.dumps(records), encoding="utf-8")
    code = (
        "import json, sys\n"
        "from nerlake.udfs.rules.ruleset import RuleSet, compiled_modules\n"
        "from test_rules_compiled import _spans_as_rows\n"
        "assert compiled_modules(), 'expected the compiled build'\n"
        "records = json.load(open('records.json', encoding='utf-8'))\n"
        "json.dump(_spans_as_rows(RuleSet.from_config(None), records), open('spans.json', 'w'))\n")
    run = _run_with(compiled_lib, code, cwd=tmp_path)
    assert run.returncode == 0, run.stderr

    compiled = json.loads((tmp_path / "spans.json").read_text())
    pure = json.loads(json.dumps(_spans_as_rows(RuleSet.from_config(None), records)))
    assert sum(map(len, pure)) > len(records)  # the comparison is not between empty lists
    differing = [(records[i][0], p, c) for i, (p, c) in enumerate(zip(pure, compiled)) if p != c]
    assert len(compiled) == len(pure) and not differing, differing[:3]
