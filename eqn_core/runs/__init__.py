"""Runs: the lifecycle in the workspace (prepare, start, ingest, delete), the training process, run summaries."""
