"""Build: plan what to create (selection, order, reasons), execute it on a server, and
classify what a server holds."""
