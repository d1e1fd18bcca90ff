"""Experiment binaries (absl): run them as `python -m experiments.NAME`."""
