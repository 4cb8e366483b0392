"""lamina.container."""
