"""Export: annotations and the review log to CSV / Parquet / JSONL through DuckDB, with provenance."""
