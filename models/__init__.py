"""Packaged models: each subfolder is a model directory (see README, "Model directory")."""
