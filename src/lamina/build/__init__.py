"""lamina.build."""
