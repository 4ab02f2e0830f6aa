"""mfops test suite (a package so that `python -m tests.ollama_double` works)."""
