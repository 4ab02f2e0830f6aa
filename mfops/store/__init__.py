"""mfops' own state under .mfops/: what was built, and the writer lock."""
