"""The Modelfile language: Ollama-exact parsing, parameters, canonical formatting, model names,
versions.
"""
