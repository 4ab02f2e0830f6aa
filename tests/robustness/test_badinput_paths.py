"""FROM/ADAPTER paths that leave the repository (`..`, absolute, `~`, a symlink out) are
refused unless `allow_paths` in mfops.yaml covers them; device files and FIFOs are refused
even then. One line naming `Modelfile:line`, exit 2, nothing uploaded or created, and never
a hang on a FIFO or an endless read of /dev/zero.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mfops.testing.double.gguf import fake_gguf
from tests.buildkit import Workspace, make_workspace
from tests.buildkit import ollama_double_fixture as ollama_double  # noqa: F401


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder next to the repository, holding a real GGUF and a FIFO."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "w.gguf").write_bytes(fake_gguf())
    os.mkfifo(folder / "fifo.gguf")
    return folder


@pytest.fixture
def ws(tmp_path: Path, ollama_double) -> Workspace:  # noqa: F811
    return make_workspace(tmp_path, ollama_double, {"other/Modelfile": "FROM llama3.2:3b\n"})


def refused(ws: Workspace, expected: str) -> None:
    for args in (("build", "--all"), ("ls",), ("digest",)):
        code, out, err = ws.mfops(*args)
        assert code == 2, (args, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in err, err
        assert lines[0].startswith(f"mfops: m/Modelfile:{expected}"), (args, lines[0])
    assert ws.double.calls.count("POST /api/blobs") == 0
    assert ws.double.calls.count("/api/create") == 0


OUTSIDE = "is outside the repository (list its directory under allow_paths in mfops.yaml"


@pytest.mark.parametrize(
    ("modelfile", "expected"),
    [
        ("FROM ../../outside/w.gguf\n", "1: FROM path '../../outside/w.gguf' " + OUTSIDE),
        ("FROM {out}/w.gguf\n", "1: FROM path '{out}/w.gguf' " + OUTSIDE),
        ("FROM ~/w.gguf\n", "1: FROM path '~/w.gguf' " + OUTSIDE),
        ("FROM llama3.2:3b\nADAPTER {out}/w.gguf\n", "2: ADAPTER path '{out}/w.gguf' " + OUTSIDE),
        ("FROM llama3.2:3b\nADAPTER ../x/../../outside/w.gguf\n", "2: ADAPTER path"),
        ("FROM /dev/zero\n", "1: FROM path '/dev/zero' " + OUTSIDE),
        ("FROM /etc/passwd\n", "1: FROM path '/etc/passwd' " + OUTSIDE),
    ],
)
def test_paths_out_of_the_repository_are_refused(
    ws: Workspace, outside: Path, modelfile: str, expected: str
):
    (Path.home() / "w.gguf").write_bytes(fake_gguf())
    ws.repo.write("m/Modelfile", modelfile.replace("{out}", str(outside)))
    refused(ws, expected.replace("{out}", str(outside)))


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("{out}/w.gguf", "1: FROM path './w.gguf' " + OUTSIDE),
        ("{out}", "1: FROM path './w.gguf' " + OUTSIDE),  # a symlinked folder on the way
        ("/dev/zero", "1: FROM path './w.gguf' " + OUTSIDE),
        ("../../outside/w.gguf", "1: FROM path './w.gguf' " + OUTSIDE),
    ],
)
def test_symlinks_out_of_the_repository_are_refused(
    ws: Workspace, outside: Path, link: str, expected: str
):
    (ws.root / "m").mkdir()
    target = link.replace("{out}", str(outside))
    if target == str(outside):
        os.symlink(target, ws.root / "m" / "weights")
        ws.repo.write("m/Modelfile", "FROM ./weights/w.gguf\n")
        expected = expected.replace("./w.gguf", "./weights/w.gguf")
    else:
        os.symlink(target, ws.root / "m" / "w.gguf")
        ws.repo.write("m/Modelfile", "FROM ./w.gguf\n")
    refused(ws, expected)


def test_fifos_and_devices_are_refused_even_when_allowed(ws: Workspace, outside: Path):
    os.mkfifo(ws.root / "fifo.gguf")
    ws.repo.write("mfops.yaml", f"allow_paths: [{outside}, /dev]\n")
    for line in (
        "FROM ../fifo.gguf",
        f"FROM {outside}/fifo.gguf",
        "FROM /dev/zero",
        "FROM llama3.2:3b\nADAPTER /dev/zero",
    ):
        ws.repo.write("m/Modelfile", line + "\n")
        keyword = line.split("\n")[-1].split()[0]
        refused(ws, f"{line.count(chr(10)) + 1}: {keyword} path ")
        _code, _, err = ws.mfops("build", "--all")
        assert "is not a regular file" in err


def test_allow_paths_lets_an_outside_file_in(ws: Workspace, outside: Path):
    ws.repo.write("mfops.yaml", f"allow_paths: [{outside}]\n")
    ws.repo.write("m/Modelfile", f"FROM {outside}/w.gguf\n")
    report = ws.build_json("--all")
    assert report["ok"]
    assert ws.double.calls.count("POST /api/blobs") == 1


def test_a_modelfile_that_is_a_fifo_is_not_read(ws: Workspace):
    os.mkfifo(ws.root / "fifo.Modelfile")
    code, _out, err = ws.mfops("ls")  # would block forever if it opened the FIFO
    assert code == 2
    assert err.strip().splitlines() == [
        "fifo.Modelfile: cannot read Modelfile: it is not a regular file"
    ]


@pytest.mark.parametrize(
    "args",
    [
        ("fmt",),
        ("fmt", "--check"),
        ("lint",),
        ("parse", "x.Modelfile"),
        ("parse", "z.Modelfile"),
        ("fmt", "z.Modelfile"),
        ("lint", "x.Modelfile"),
    ],
)
def test_fmt_lint_and_parse_refuse_a_fifo_or_a_device_at_once(tmp_path: Path, run_mfops, args):
    """A subprocess with a timeout: before the fix these blocked on the FIFO forever, or
    read /dev/zero until memory ran out."""
    os.mkfifo(tmp_path / "x.Modelfile")
    os.symlink("/dev/zero", tmp_path / "z.Modelfile")
    (tmp_path / "ok.Modelfile").write_text("# ok\nFROM llama3.2:3b\n")
    (tmp_path / ".git").mkdir()
    done = run_mfops(*args, cwd=tmp_path, timeout=30)
    assert done.returncode in (1, 2), done.stderr
    assert "not a regular file" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert (tmp_path / "ok.Modelfile").read_text() == "# ok\nFROM llama3.2:3b\n"
