# tests/integration: filled in by its owner.
