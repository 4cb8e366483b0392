"""``lamina image inspect``: ``inspect`` restricted to images."""

from lamina.cli.commands.inspect import inspect_command

command = inspect_command("image")
