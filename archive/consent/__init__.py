"""The narrator's consent: versioned records, seals, withdrawal and redactions."""
