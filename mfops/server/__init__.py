"""The one place that talks to Ollama: client, create requests, show parsing, read-back
verification, bases, import; deadlines for a whole HTTP call (deadline), the registry client.
"""
