# tests/unit: filled in by its owner.
