"""The command line: click commands and renderers over the library. The only layer that prints."""
