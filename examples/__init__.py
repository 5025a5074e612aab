"""Runnable examples (a package so ``python -m examples.k8s_watch...`` works from the repo root)."""
