"""lamina.cli."""
