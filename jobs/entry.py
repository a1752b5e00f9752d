"""``spark-submit jobs/<job>.py``: run the job through the installed package.

spark-submit runs a job file as a plain script (no package, its own folder first on
``sys.path``), so relative imports cannot work there. Each job file starts with

    if __name__ == "__main__" and not __package__:
        from nerlake.jobs.entry import run_installed
        run_installed("nerlake.jobs.<job>")

which re-runs the same job from the installed package, with the same arguments.
"""
import runpy
import sys


def run_installed(module: str) -> None:
    sys.path.pop(0)  # the job's own folder: its module names must not shadow anything
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    raise SystemExit(0)
