"""Container networking: the default ``bridge`` network (CNI plugins) and published ports.

``ports`` parses and prints port mappings (pure); ``cni`` runs CNI plugins; ``bridge`` gives a
running container its netns, address and host ports. Must not import ``container`` or ``engine``.
"""
