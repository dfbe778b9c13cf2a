"""Full-text search over testimonies, one index per audience."""
