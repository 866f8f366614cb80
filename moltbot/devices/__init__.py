"""Device identity, pairing and device tokens (reference §5.5–§5.6)."""
