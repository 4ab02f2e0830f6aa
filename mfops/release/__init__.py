"""Releases: promotion, rollback, retagging, the recorded history and the CI gate."""
