"""``lamina image SUBCOMMAND``: the image verbs under docker's management-command names."""

from __future__ import annotations

import click

from lamina.cli.app import LazyGroup

VERBS = {
    "ls": ("images", "List images"),
    "list": ("images", "List images"),
    "rm": ("rmi", "Remove one or more images"),
    "remove": ("rmi", "Remove one or more images"),
    "inspect": ("image_inspect", "Display detailed information on one or more images"),
    "history": ("history", "Show the history of an image"),
    "tag": ("tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
    "import": ("import_", "Import the contents from a tarball to create a filesystem image"),
    "save": ("save", "Save one or more images to a tar archive"),
    "load": ("load", "Load an image from a tar archive or an OCI layout"),
    "pull": ("pull", "Download an image from a registry"),
    "push": ("push", "Upload an image to a registry"),
    "build": ("build", "Build an image from a Dockerfile"),
    "prune": ("image_prune", "Remove unused images"),
    "analyze": ("analyze", "Analyze an image's layers for wasted space"),
    "diff": ("image_diff", "Show the files added, changed and deleted between two images"),
}


@click.group("image", cls=LazyGroup, verbs=VERBS, context_settings={"help_option_names": ["-h", "--help"]})
def command() -> None:
    """Manage images."""
