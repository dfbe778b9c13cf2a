"""Background jobs: long imports and index rebuilds, run beside the request that started them."""
