"""Media files: storage, checksums, streaming (not available yet)."""
