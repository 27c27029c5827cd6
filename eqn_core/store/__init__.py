"""Storage: the workspace's DuckDB file and its schema, review records, run folders, shipped models."""
