"""Files on disk: atomic writes and the one YAML loader."""
