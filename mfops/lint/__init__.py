"""Lint: the rule engine and the rules over parsed Modelfiles and the graph."""
