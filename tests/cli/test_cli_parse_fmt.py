"""`mfops parse` and `mfops fmt` end to end: output, exit codes, atomic rewrites.

Most tests call `mfops.cli.main.main` inside CliRunner's isolation (stdout and stderr kept
apart, the real exit code from SystemExit); the last ones run the installed console script
in a subprocess.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.cli_runner import invoke_mfops

run = invoke_mfops  # (exit code, stdout, stderr), in-process


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_bytes(data.encode())
    return path


# --------------------------------------------------------------------------- parse


def test_parse_json(tmp_path: Path) -> None:
    path = write(
        tmp_path / "Modelfile",
        'from llama3.2\nPARAMETER temperature 0.1\nPARAMETER stop a\nPARAMETER stop "b "\n'
        "PARAMETER mirostat 2\nMESSAGE user hi: there\n",
    )
    code, out, err = run("parse", str(path), "--json")
    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "commands": [
            {"name": "model", "args": "llama3.2"},
            {"name": "temperature", "args": "0.1"},
            {"name": "stop", "args": "a"},
            {"name": "stop", "args": "b "},
            {"name": "mirostat", "args": "2"},
            {"name": "message", "args": "user: hi: there"},
        ],
        "params": {"temperature": 0.1, "stop": ["a", "b "]},
        "deprecated": ["mirostat"],
        "param_error": None,
    }


def test_parse_text_output_and_warnings(tmp_path: Path) -> None:
    path = write(tmp_path / "m.Modelfile", "FROM x\nSYSTEM a\tb\nPARAMETER low_vram true\n")
    code, out, err = run("parse", str(path))
    assert code == 0
    assert out == 'model     "x"\nsystem    "a\\tb"\nlow_vram  "true"\n'
    assert err == f"{path}: warning: parameter low_vram is deprecated (Ollama drops it)\n"


def test_parse_grammar_error_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path / "Modelfile", "FROM x\r\n\r\nMESSAGE User hi\r\n")
    code, out, err = run("parse", str(path), "--json")
    assert (code, out) == (2, "")
    assert err == (
        f"{path}:3: invalid message role 'User': message role must be one of \"system\", "
        '"user", or "assistant" (roles are case-sensitive)\n'
    )


def test_parse_parameter_error_is_reported_but_the_grammar_was_fine(tmp_path: Path) -> None:
    path = write(tmp_path / "Modelfile", "FROM x\nPARAMETER top_k 40\nPARAMETER num_ctx 4k\n")
    code, out, _ = run("parse", str(path), "--json")
    assert code == 0
    result = json.loads(out)
    assert result["params"] == {"top_k": 40}
    assert result["param_error"] == "invalid int value [4k]"
    code, _, err = run("parse", str(path))
    assert (code, err) == (0, f"{path}:3: invalid int value [4k]\n")


def test_parse_missing_file_exit_2(tmp_path: Path) -> None:
    code, out, err = run("parse", str(tmp_path / "nope"))
    assert (code, out) == (2, "")
    assert err == f"{tmp_path / 'nope'}: cannot read Modelfile: No such file or directory\n"


# --------------------------------------------------------------------------- fmt

MESSY = "system   hi\n\n\n# base\nfrom llama3.2\n"
CLEAN = "# base\nFROM llama3.2\n\nSYSTEM hi\n"


def test_fmt_rewrites_in_place_and_keeps_the_mode(tmp_path: Path) -> None:
    path = write(tmp_path / "Modelfile", MESSY)
    path.chmod(0o640)
    code, out, err = run("fmt", str(path))
    assert (code, out, err) == (0, "", f"reformatted {path}\n")
    assert path.read_text() == CLEAN
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Modelfile"]  # no temp file left
    assert run("fmt", str(path)) == (0, "", "")  # already canonical: untouched


def test_fmt_check_lists_files_and_changes_nothing(tmp_path: Path) -> None:
    messy = write(tmp_path / "a.Modelfile", MESSY)
    clean = write(tmp_path / "b.Modelfile", CLEAN)
    code, out, err = run("fmt", "--check", str(tmp_path))
    assert (code, out, err) == (1, f"would reformat {messy}\n", "")
    assert messy.read_text() == MESSY
    assert run("fmt", "--check", str(clean)) == (0, "", "")


def test_fmt_diff_prints_a_unified_diff_and_exits_1(tmp_path: Path) -> None:
    path = write(tmp_path / "Modelfile", "from x\nsystem hi")
    code, out, err = run("fmt", "--diff", str(path))
    assert (code, err) == (1, "")
    assert out == (
        f"--- a/{path}\n+++ b/{path}\n@@ -1,2 +1,2 @@\n-from x\n-system hi\n"
        "\\ No newline at end of file\n+FROM x\n+SYSTEM hi\n"
    )
    assert path.read_text() == "from x\nsystem hi"


def test_fmt_keeps_crlf(tmp_path: Path) -> None:
    path = write(tmp_path / "Modelfile", b'from x\r\nsystem """a\r\nb"""\r\n')
    assert run("fmt", str(path))[0] == 0
    assert path.read_bytes() == b'FROM x\r\nSYSTEM """a\r\nb"""\r\n'


def test_fmt_reencodes_a_bom_file_and_says_so_in_diff_mode(tmp_path: Path) -> None:
    path = write(tmp_path / "Modelfile", b"\xef\xbb\xbfFROM x\n")
    code, out, err = run("fmt", "--diff", str(path))
    assert (code, out) == (1, "")
    assert err == (
        f"{path}: only the encoding changes: to UTF-8 without BOM (the text stays the same)\n"
    )
    assert run("fmt", str(path))[0] == 0
    assert path.read_bytes() == b"FROM x\n"


def test_fmt_reports_broken_files_and_formats_the_rest(tmp_path: Path) -> None:
    broken = write(tmp_path / "a" / "Modelfile", "FROM x\nSYSTEM\n")
    good = write(tmp_path / "b" / "Modelfile", MESSY)
    code, _, err = run("fmt", str(tmp_path))
    assert code == 2
    assert err == (
        f"{broken}:2: 'SYSTEM' must be followed by a space and a value\nreformatted {good}\n"
    )
    assert broken.read_text() == "FROM x\nSYSTEM\n"
    assert good.read_text() == CLEAN


def test_fmt_walks_directories_by_convention(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = [  # a directory's files before its subdirectories, each sorted
        write(tmp_path / "pirate.Modelfile", MESSY),
        write(tmp_path / "bot" / "Modelfile", MESSY),
    ]
    skipped = [
        write(tmp_path / ".git" / "Modelfile", MESSY),
        write(tmp_path / ".venv" / "x.Modelfile", MESSY),
        write(tmp_path / "notes.txt", MESSY),
        write(tmp_path / ".Modelfile", MESSY),
    ]
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("fmt", "--check")
    assert code == 1
    assert out == "".join(f"would reformat {p.relative_to(tmp_path)}\n" for p in found)
    assert all(p.read_text() == MESSY for p in skipped)


def test_fmt_writes_through_a_symlink_inside_the_repository(tmp_path: Path) -> None:
    write(tmp_path / "mfops.yaml", "")
    target = write(tmp_path / "real" / "Modelfile", MESSY)
    link = tmp_path / "link.Modelfile"
    link.symlink_to(target)
    assert run("fmt", str(link))[0] == 0
    assert link.is_symlink()
    assert target.read_text() == CLEAN


def test_fmt_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run("fmt", str(tmp_path / "missing"))
    assert code == 2
    assert "does not exist" in err


# --------------------------------------------------------------------------- installed script


def test_installed_mfops_parse_and_fmt(run_mfops, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write(tmp_path / "Modelfile", 'from qwen2.5\nsystem "hi"\n')
    result = run_mfops("parse", "Modelfile", "--json")
    assert (result.returncode, result.stderr) == (0, "")
    assert json.loads(result.stdout)["commands"] == [
        {"name": "model", "args": "qwen2.5"},
        {"name": "system", "args": "hi"},
    ]
    result = run_mfops("fmt", "--check")
    assert (result.returncode, result.stdout) == (1, "would reformat Modelfile\n")
    assert run_mfops("fmt").returncode == 0
    assert (tmp_path / "Modelfile").read_text() == "FROM qwen2.5\nSYSTEM hi\n"


def test_installed_mfops_grammar_error(run_mfops, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write(tmp_path / "Modelfile", "FROM x\nPARAMETER num-ctx 8\n")
    result = run_mfops("parse", "Modelfile")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "Modelfile:2: invalid character '-' in PARAMETER name "
        "(parameter names are letters, digits and '_')\n"
    )


def test_installed_mfops_version_starts_without_the_parser(run_mfops) -> None:  # type: ignore[no-untyped-def]
    result = run_mfops("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("mfops, version ")
    probe = (
        "import sys, runpy; sys.argv = ['mfops', '--version']\n"
        "try:\n    runpy.run_module('mfops', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "heavy = [m for m in ('mfops.language.modelfile', 'ollama', 'httpx', 'git', 'yaml', 'rich',"
        " 'deepdiff', 'jsonschema') if m in sys.modules]\n"
        "print(heavy, file=sys.stderr)\n"
    )
    import subprocess
    import sys

    child = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "OLLAMA_HOST": "http://127.0.0.1:9"},
    )
    assert child.stderr.strip().splitlines()[-1] == "[]"


# --------------------------------------------------------------------------- test isolation


def test_guard_refuses_a_real_ollama_and_records_it(isolated_environment) -> None:  # type: ignore[no-untyped-def]
    import socket

    with pytest.raises(ConnectionRefusedError, match="test isolation"):
        socket.create_connection(("localhost", 11434), timeout=2)
    assert isolated_environment.attempts
    isolated_environment.attempts.clear()  # this test wanted the attempt; others fail on it


def test_home_is_an_empty_temporary_directory(tmp_path_factory: pytest.TempPathFactory) -> None:
    home = Path(os.environ["HOME"])
    assert home == Path.home()
    assert home.is_dir() and not any(home.iterdir())
    assert tmp_path_factory.getbasetemp() in home.parents


def test_fmt_refuses_a_symlink_that_leaves_the_repository(tmp_path: Path) -> None:
    outside = write(tmp_path / "outside" / "Modelfile", MESSY)
    repo = tmp_path / "repo"
    write(repo / "mfops.yaml", "")
    (repo / "evil.Modelfile").symlink_to(outside)
    write(repo / "good.Modelfile", MESSY)
    code, _, err = run("fmt", str(repo))
    assert code == 2
    assert f"{repo / 'evil.Modelfile'}: symlink points outside the repository; not formatted" in err
    assert outside.read_text() == MESSY
    assert (repo / "good.Modelfile").read_text() == CLEAN
    assert run("fmt", str(repo / "evil.Modelfile"))[0] == 2
    assert outside.read_text() == MESSY


def test_fmt_refuses_bytes_it_cannot_keep_rather_than_turn_them_into_fffd(tmp_path: Path) -> None:
    data = b"# caf\xe9 latin-1 comment\nfrom x\nsystem hi\n"
    path = write(tmp_path / "Modelfile", data)
    code, _, err = run("fmt", str(path))
    assert code == 2
    assert err == (
        f"{path}: line 1: bytes that are not UTF-8 (e9); not formatted: fmt would replace "
        "them with U+FFFD (fix the file's encoding first)\n"
    )
    assert path.read_bytes() == data
