"""`mfops demo`, the README's main job, runs from an installed wheel (not the checkout)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

from mfops.testing.demo import examples_root
from tests.wheelkit import ROOT, build_wheel, unpack


def test_the_examples_come_from_the_checkout_in_a_source_install():
    assert examples_root() == ROOT / "examples"


def test_mfops_demo_runs_from_the_wheel(tmp_path):
    wheel = build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {n.removeprefix("mfops/_examples/") for n in names if "/_examples/" in n}
    source = {
        p.relative_to(ROOT / "examples").as_posix()
        for p in (ROOT / "examples").rglob("*")
        if ".mfops" not in p.parts  # local state (e.g. the parse cache), never shipped
    }
    assert shipped == {s for s in source if (ROOT / "examples" / s).is_file()}
    assert {"mfops/testing/plugin.py", "mfops/testing/double/double.py"} <= names
    site = unpack(wheel, tmp_path / "site")
    probe = (
        "import sys, mfops.testing.demo as d; print(d.examples_root())\n"
        "from mfops.cli.main import main\n"
        "main(['demo'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": str(site)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0] == str(site / "mfops" / "_examples")
    assert "gate passed" in done.stdout
    assert "mfops: gate failed at test: 1 case failed (python-bot)" in done.stderr
    assert "(gate exited 1: the release was refused)" in done.stdout


def test_a_failing_step_is_one_line_and_exit_1(tmp_path, monkeypatch, mfops_cli):
    """When a step that must pass fails, `mfops demo` says which, in mfops' words."""
    broken = tmp_path / "examples"
    broken.mkdir()
    (broken / "mfops.yaml").write_text("models: [\n")  # the lock step cannot read the config
    monkeypatch.setattr("mfops.testing.demo.examples_root", lambda: broken)
    code, _out, err = mfops_cli("demo")
    assert code == 1
    assert err.strip().splitlines()[-1] == "mfops: demo: `mfops lock --pull` exited 2"
