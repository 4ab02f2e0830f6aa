"""mfops: model-as-code DevOps for Ollama.

Kept import-free on purpose: `mfops --version` and `mfops --help` import only this package
and the CLI shell, so start-up stays fast.
"""

__version__ = "0.1.0"
