"""The review workflow (four eyes): submissions, decisions, publishing, revisions of each change."""
