"""OAI-PMH 2.0 harvesting of public records."""
