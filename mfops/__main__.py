"""`python -m mfops` runs the same entry point as the `mfops` console script."""

from mfops.cli.main import main

if __name__ == "__main__":
    main()
