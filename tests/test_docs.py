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


def test_the_readme_main_job_runs():
    """The README's first command runs scripts/demo.py: keep it working end to end."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    assert "python scripts/demo.py" in README.split("# run the tests")[0]
    done = subprocess.run(
        [sys.executable, str(root / "scripts" / "demo.py")],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "gate passed" in done.stdout
    assert "mfops: gate failed at test: 1 case failed (python-bot)" in done.stderr
    assert "(gate exited 1: the release was refused)" in done.stdout
