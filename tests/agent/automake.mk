# tests/agent: filled in by its owner.
