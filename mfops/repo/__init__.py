"""The repository: root, mfops.yaml, conventions, git store, sources, paths and mfops.lock."""
