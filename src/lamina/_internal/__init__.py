"""OS mechanics: atomic files, locks, staging dirs, mounts, subprocesses. Knows nothing of images or layers."""
