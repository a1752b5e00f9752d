"""YAML configuration shipped with the package (defaults and overlays)."""
