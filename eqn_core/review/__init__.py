"""Review: suggestions and the queue, decisions, agreement between reviewers, accounts."""
