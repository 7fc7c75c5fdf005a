# controller: filled in by its owners.
