"""lamina.layer."""
