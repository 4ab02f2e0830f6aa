"""Regenerate the command reference in README.md from the CLI's own help.

    python scripts/gen_readme.py          # rewrite the block between the markers
    python scripts/gen_readme.py --check  # exit 1 when the README is out of date

The reference is `mfops --help` and then `mfops NAME --help` for every command in the
order of `mfops.cli.main.COMMANDS`, rendered by click at a fixed width so the result does not
depend on the terminal. tests/test_readme.py fails when the README differs from it, so the
reference can never describe options that no longer exist.
"""

from __future__ import annotations

import sys
from pathlib import Path

START = "<!-- commands:start -->"
END = "<!-- commands:end -->"
WIDTH = 90
README = Path(__file__).resolve().parent.parent / "README.md"


def render() -> str:
    """The reference block's content (without the markers)."""
    import click

    from mfops.cli.main import COMMANDS, cli

    def helptext(command: click.Command, name: str, parent: click.Context | None) -> str:
        settings = {} if parent is not None else cli.context_settings
        ctx = click.Context(
            command,
            info_name=name,
            parent=parent,
            terminal_width=WIDTH,
            max_content_width=WIDTH,
            **settings,
        )
        return command.get_help(ctx).rstrip() + "\n"

    root = click.Context(
        cli,
        info_name="mfops",
        terminal_width=WIDTH,
        max_content_width=WIDTH,
        **cli.context_settings,
    )  # -h as well as --help, as `mfops` has
    out = [
        "Generated from the CLI's own help by `python scripts/gen_readme.py`; do not edit by hand.",
        "",
        "```text",
        helptext(cli, "mfops", None) + "```",
        "",
    ]
    for name in COMMANDS:
        command = cli.get_command(root, name)
        assert command is not None, name
        out += [f"### `mfops {name}`", "", "```text", helptext(command, name, root) + "```", ""]
        if isinstance(command, click.Group):  # `mfops report merge`: each subcommand too
            ctx = click.Context(command, info_name=name, parent=root)
            for sub in command.list_commands(ctx):
                subcommand = command.get_command(ctx, sub)
                assert subcommand is not None, sub
                text = helptext(subcommand, sub, ctx)
                out += [f"### `mfops {name} {sub}`", "", "```text", text + "```", ""]
    return "\n".join(out)


def update(text: str) -> str:
    """`text` (the README) with the block between the markers replaced by `render()`."""
    try:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
    except ValueError:
        raise SystemExit(f"README.md needs the markers {START} and {END}") from None
    return f"{head}{START}\n{render()}{END}{tail}"


def main(argv: list[str]) -> int:
    text = README.read_text(encoding="utf-8")
    new = update(text)
    if "--check" in argv:
        if new != text:
            print(
                "README.md's command reference is out of date: run `python scripts/gen_readme.py`",
                file=sys.stderr,
            )
            return 1
        return 0
    if new != text:
        from mfops.fileio.atomic import write_atomic

        write_atomic(README, new)
        print("README.md: command reference updated")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(README.parent))
    raise SystemExit(main(sys.argv[1:]))
