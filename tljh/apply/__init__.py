"""Making the running hub and proxy match the config: health, known-good snapshots,
which components a change touches, and the apply-or-roll-back transaction."""
