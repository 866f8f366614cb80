"""Device identity, pairing and device tokens."""
