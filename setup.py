"""Packaging for nerlake (setup.py is the only build tool, by design).

The repository keeps the design card's top-level layout (jobs/, udfs/, conf/) and
installs it under one import namespace, ``nerlake``, so that nothing generic such as
``jobs`` lands in site-packages:

    jobs/  -> nerlake.jobs   (spark-submit entry points, driver side)
    udfs/  -> nerlake.udfs   (everything that runs inside executors)
    conf/  -> nerlake.conf   (YAML defaults and overlays, shipped as package data)
    models/ -> nerlake.models (packaged default model directories)
"""
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent

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
    "dev": ["pytest>=8", "hypothesis>=6.100", "seqeval>=1.2"],
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
)
