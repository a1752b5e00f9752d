"""Rule extractors for entities with reliable structure (see ``base`` for the interface)."""
