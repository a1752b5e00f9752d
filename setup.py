"""Packaging for nerlake (setup.py is the only build tool, by design).

The repository keeps the design card's top-level layout (jobs/, udfs/, conf/) and
installs it under one import namespace, ``nerlake``, so that nothing generic such as
``jobs`` lands in site-packages:

    jobs/  -> nerlake.jobs   (spark-submit entry points, driver side)
    udfs/  -> nerlake.udfs   (everything that runs inside executors)
    conf/  -> nerlake.conf   (YAML defaults and overlays, shipped as package data)
    models/ -> nerlake.models (packaged default model directories)

Optional compiled rule stage: ``NERLAKE_COMPILE=1`` compiles the rule stage's modules
(COMPILED_MODULES) to C extensions with Cython. Same code, same output, ~8-15% more records
per second. Build it into a wheel or a regular install, not an editable one:

    pip install cython && NERLAKE_COMPILE=1 pip install --no-build-isolation .
"""
import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).parent

# The rule stage's per-record path: make_doc, the extractors, overlap resolution.
COMPILED_MODULES = [
    "udfs/textnorm", "udfs/spans",
    "udfs/rules/common", "udfs/rules/ruleset", "udfs/rules/phone", "udfs/rules/id_number",
    "udfs/rules/order_code", "udfs/rules/web", "udfs/rules/license_plate",
    "udfs/rules/gazetteer", "udfs/rules/temporal", "udfs/rules/money", "udfs/rules/quantity",
]


class CompiledRulesBuildExt(build_ext):
    def run(self):
        if self.inplace or getattr(self, "editable_mode", False):
            # an extension module next to its .py is imported instead of it: edits to the
            # source would silently stop taking effect
            sys.exit("NERLAKE_COMPILE=1 builds wheels and regular installs only, not editable "
                     "or in-place ones (the compiled modules would shadow the .py sources)")
        super().run()


def compiled_extensions():
    """The Cython extensions when NERLAKE_COMPILE=1, else none (pure Python, the default)."""
    if os.environ.get("NERLAKE_COMPILE", "0") in ("", "0"):
        return {}
    try:
        from Cython.Build import cythonize
    except ImportError:
        sys.exit("NERLAKE_COMPILE=1 needs Cython in the build environment: "
                 "pip install cython, then pip install --no-build-isolation .")
    from setuptools import Extension

    extensions = [Extension("nerlake." + module.replace("/", "."), [module + ".py"]) for module in COMPILED_MODULES]
    # cpow: ``a ** b`` on Python numbers keeps Python's semantics (Decimal and float results)
    directives = {"language_level": 3, "binding": True, "cpow": True}
    return {
        "ext_modules": cythonize(extensions, compiler_directives=directives, build_dir="build/cython", quiet=True),
        "cmdclass": {"build_ext": CompiledRulesBuildExt},
    }

# pyspark and delta-spark move together: delta-spark caps pyspark at the 4.2 line.
# pandas 3 breaks Spark's Arrow conversion of multi-chunk string columns.
INSTALL_REQUIRES = [
    "pyspark>=4.2,<4.3",
    "pandas>=2.2,<3",
    "pyarrow>=18",
    "numpy>=1.26",
    "deltalake>=1.6,<2",
    "onnxruntime>=1.20",
    "tokenizers>=0.20",
    "pyyaml>=6",
    "phonenumbers>=8.13",
    "pyahocorasick>=2.1",
    "tqdm>=4.66",
]

EXTRAS = {
    # onnxruntime-gpu owns the same package directory as onnxruntime: install the gpu
    # extra into an environment without onnxruntime (see README, "GPU executors").
    "gpu": ["onnxruntime-gpu>=1.20"],
    # torch is pinned in the Makefile (install torch==2.13.0 first): an unpinned torch
    # pulls gigabytes of CUDA wheels on a CPU machine.
    "train": ["torch>=2.4", "transformers>=4.45", "tokenizers>=0.20", "onnx>=1.16",
              "onnxscript>=0.5", "seqeval>=1.2"],
    # cython: the test that builds the compiled rule stage (NERLAKE_COMPILE=1) and runs the
    # rule tests against it
    "dev": ["pytest>=8", "hypothesis>=6.100", "seqeval>=1.2", "cython>=3.0"],
}

setup(
    name="nerlake",
    version="0.1.0",
    description="Named-entity recognition for low-resource languages as nightly Spark batch jobs",
    long_description=(HERE / "README.md").read_text(encoding="utf-8") if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=["nerlake.jobs", "nerlake.udfs", "nerlake.udfs.rules", "nerlake.conf", "nerlake.models"],
    package_dir={
        "nerlake.jobs": "jobs",
        "nerlake.udfs": "udfs",
        "nerlake.udfs.rules": "udfs/rules",
        "nerlake.conf": "conf",
        "nerlake.models": "models",
    },
    package_data={
        "nerlake.conf": ["*.yaml", "rules/*.yaml", "gazetteers/*.txt", "label_maps/*.yaml", "recipes/*.yaml"],
        "nerlake.udfs": ["generator_data/*"],
        "nerlake.models": ["*/*.onnx", "*/*.json", "*/*.md"],
    },
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["nerlake = nerlake.jobs.cli:main"]},
    **compiled_extensions(),
)
