"""lamina.image."""
