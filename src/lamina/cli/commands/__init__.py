"""lamina.cli.commands."""
