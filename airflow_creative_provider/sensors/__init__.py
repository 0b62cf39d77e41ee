"""See the platform modules."""
