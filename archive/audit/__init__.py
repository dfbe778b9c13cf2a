"""The append-only audit log: every room may record an event here; it imports none of them."""
