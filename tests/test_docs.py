"""Docs cannot drift: what the CLI knows, the README says."""

from __future__ import annotations

from pathlib import Path

from mfops.cli.main import COMMANDS
from mfops.lint.engine import RULES

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_lint_rule_is_in_the_readme_table():
    for rule in RULES.values():
        assert f"| {rule.code} | {rule.severity} |" in README, rule.code


def test_every_command_has_help_and_is_mentioned_in_the_readme():
    from mfops.cli.main import LazyGroup, cli

    group = cli
    assert isinstance(group, LazyGroup)
    for name, (_module, short) in COMMANDS.items():
        command = group.get_command(None, name)  # type: ignore[arg-type]
        assert command is not None and command.help, name
        assert short, name
        assert f"`mfops {name}" in README, name


def test_the_readme_main_job_is_mfops_demo_from_a_regular_install():
    """The README's first command installs the package (not editable) and runs `mfops demo`;
    tests/testing/test_demo.py runs that command from a built wheel."""
    first = README.split("# run the tests")[0].strip().splitlines()[-1]
    assert "pip install -q '.[test]'" in first and "-e" not in first.split()
    assert first.endswith(".venv/bin/mfops demo")
