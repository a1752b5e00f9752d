"""Print the effective configuration as YAML, after overlays, ``--conf`` and ``--set``."""
if __name__ == "__main__" and not __package__:  # spark-submit jobs/show_config.py
    from nerlake.jobs.entry import run_installed

    run_installed("nerlake.jobs.show_config")

import argparse
import sys

import yaml

from ..udfs.config import ConfigError
from .config import load_config
from .extract import add_config_arguments


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="nerlake config", description=__doc__)
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.conf, args.overrides, profile=args.profile)
    except ConfigError as exc:
        print(f"nerlake config: configuration error: {exc}", file=sys.stderr)
        return 2
    print(f"# conf_hash: {cfg.conf_hash()}")
    print(yaml.safe_dump(cfg.to_dict(), sort_keys=False, allow_unicode=True), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
