"""Differences between two versions of the repository, model by model, through inheritance, and
their renderings.
"""
