"""The review workflow, revisions of every saved change, and the audit log."""
