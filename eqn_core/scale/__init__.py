"""Beyond one process: data-parallel launch, annotation on Ray, corpora queried in place."""
