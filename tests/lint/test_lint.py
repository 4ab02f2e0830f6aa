"""Lint rules: each fires at the right place on a bad input and stays quiet once it is fixed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mfops.language.modelfile import SINGLE_VALUED
from mfops.lint.engine import RULES, Finding, LintContext, lint_file, lint_paths, lint_source

HEAD = "# test: a model for the lint tests\n"  # keeps MF302 out of the way


def lint(text: str, *, known: tuple[str, ...] = (), base: Path | None = None) -> list[Finding]:
    ctx = LintContext(frozenset(known), base or Path("/nonexistent-mfops-dir"))
    return lint_source(text.encode(), "m/Modelfile", ctx)


def at(text: str, code: str, **kw) -> list[tuple[int, int]]:
    """(line, column) of every finding with `code`."""
    return [(f.line, f.column) for f in lint(text, **kw) if f.code == code]


def only(text: str, code: str, **kw) -> Finding:
    found = [f for f in lint(text, **kw) if f.code == code]
    assert len(found) == 1, found
    return found[0]


# --------------------------------------------------------------------------- registry


def test_registry_codes_are_stable_and_documented():
    assert list(RULES) == sorted(RULES)
    for code, rule in RULES.items():
        assert re.fullmatch(r"MF[0-4][0-9]{2}", code)
        assert rule.code == code
        assert rule.severity in ("error", "warning", "info")
        assert rule.summary and "\n" not in rule.summary


def test_clean_file_has_no_findings():
    assert lint(HEAD + "FROM llama3.2:3b\nPARAMETER temperature 0.2\nSYSTEM hi\n") == []


# --------------------------------------------------------------------------- MF0xx


def test_mf001_parse_error_is_one_finding_not_an_exception():
    found = lint(HEAD + "FROM x:1\nBOGUS y\nPARAMETER Temperature 1\n")
    assert [(f.code, f.severity, f.line, f.column) for f in found] == [("MF001", "error", 3, 1)]
    assert "BOGUS" in found[0].message
    assert at(HEAD + "FROM x:1\nSYSTEM y\nPARAMETER Temperature 1\n", "MF001") == []


def test_mf001_no_from_line():
    found = lint(HEAD + "SYSTEM hi\n")
    assert [(f.code, f.line, f.message) for f in found] == [("MF001", 1, "no FROM line")]


def test_mf002_unreadable_file(tmp_path):
    found = lint_file(tmp_path / "gone.Modelfile", display="gone.Modelfile")
    assert [(f.path, f.code, f.severity) for f in found] == [("gone.Modelfile", "MF002", "error")]
    assert "No such file" in found[0].message


def test_mf003_directive_with_unknown_code_or_bad_syntax():
    bad = HEAD + "FROM x:1\n# mfops-lint: disable=MF999\n# mfops-lint: enable=MF302\n"
    assert at(bad, "MF003") == [(3, 1), (4, 1)]
    assert at(HEAD + "FROM x:1\n# mfops-lint: disable=MF302\n", "MF003") == []


# --------------------------------------------------------------------------- suppression


def test_suppression_disables_listed_codes_for_the_whole_file():
    text = "from llama3.2:3b\nSYSTEM a\nSYSTEM b\n"
    assert {f.code for f in lint(text)} == {"MF302", "MF305", "MF301"}
    quiet = text + "# mfops-lint: disable=MF302, mf305\n"
    assert {f.code for f in lint(quiet)} == {"MF301"}


def test_suppression_cannot_hide_a_parse_error():
    found = lint("# mfops-lint: disable=MF001\nFROM x:1\nBOGUS y\n")
    assert [f.code for f in found] == ["MF001"]


# --------------------------------------------------------------------------- MF1xx


def test_mf101_unknown_parameter_with_suggestions():
    f = only(HEAD + "FROM x:1\nPARAMETER Temperature 0.5\n", "MF101")
    assert (f.line, f.column, f.severity) == (3, 11, "error")
    assert f.message == "unknown parameter 'Temperature'"
    assert f.hint is not None and "'temperature'" in f.hint and "case-sensitive" in f.hint
    assert "did you mean 'temperature'" in (
        only(HEAD + "FROM x:1\nPARAMETER temprature 1\n", "MF101").hint or ""
    )
    assert only(HEAD + "FROM x:1\nPARAMETER zzzzzz 1\n", "MF101").hint is None
    assert at(HEAD + "FROM x:1\nPARAMETER temperature 0.5\n", "MF101") == []


def test_mf101_reports_every_bad_line_not_only_the_first():
    text = HEAD + "FROM x:1\nPARAMETER a 1\nPARAMETER top_k 1.5\nPARAMETER b 2\nPARAMETER c 3\n"
    assert at(text, "MF101") == [(3, 11), (5, 11), (6, 11)]
    assert at(text, "MF103") == [(4, 17)]


@pytest.mark.parametrize("name", ["numa", "tfs_z", "num_gqa"])
def test_mf102_removed_parameter(name):
    f = only(HEAD + f"FROM x:1\nPARAMETER {name} 1\n", "MF102")
    assert (f.line, f.column, f.severity) == (3, 11, "error")
    assert f"unknown parameter '{name}'" in f.message and "removed" in f.message
    assert at(HEAD + f"FROM x:1\nPARAMETER {name} 1\n", "MF101") == []  # not reported twice


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("PARAMETER num_ctx 4096.0", "PARAMETER num_ctx: invalid int value [4096.0]"),
        ("PARAMETER temperature hot", "PARAMETER temperature: invalid float value [hot]"),
        ("PARAMETER use_mmap yes", "PARAMETER use_mmap: invalid bool value [yes]"),
    ],
)
def test_mf103_invalid_value_uses_ollamas_message(line, message):
    f = only(HEAD + "FROM x:1\n" + line + "\n", "MF103")
    assert (f.line, f.severity, f.message) == (3, "error", message)
    assert f.column == len(line) - len(line.split()[-1]) + 1
    fixed = {"num_ctx": "4096", "temperature": "0.7", "use_mmap": "true"}[line.split()[1]]
    assert at(HEAD + f"FROM x:1\nPARAMETER {line.split()[1]} {fixed}\n", "MF103") == []


def test_mf103_inline_comment_is_named_as_the_cause():
    f = only(HEAD + "FROM x:1\nPARAMETER temperature 0.2 # cooler\n", "MF103")
    assert f.message == "PARAMETER temperature: invalid float value [0.2 # cooler]"
    assert f.hint == (
        "temperature takes a number, e.g. 0.7; Modelfiles have no inline comments: "
        "the '#' is part of the value"
    )
    plain = only(HEAD + "FROM x:1\nPARAMETER temperature hot\n", "MF103")
    assert plain.hint == "temperature takes a number, e.g. 0.7"


def test_mf104_empty_parameter_name():
    f = only(HEAD + "FROM x:1\nPARAMETER  temperature 0.5\n", "MF104")
    assert (f.line, f.column, f.severity) == (3, 11, "error")
    assert f.hint == "write one blank: PARAMETER temperature 0.5"
    assert at(HEAD + "FROM x:1\nPARAMETER temperature 0.5\n", "MF104") == []


def test_mf105_deprecated_parameter_warns_without_checking_the_value():
    found = lint(HEAD + "FROM x:1\nPARAMETER mirostat banana\n")
    assert [(f.code, f.severity, f.line, f.column) for f in found] == [("MF105", "warning", 3, 11)]
    assert lint(HEAD + "FROM x:1\n") == []


def test_mf106_scalar_parameter_set_twice_but_stop_accumulates():
    f = only(HEAD + "FROM x:1\nPARAMETER top_k 1\nPARAMETER top_k 2\n", "MF106")
    assert (f.line, f.column) == (4, 11) and "line 3" in f.message
    assert at(HEAD + "FROM x:1\nPARAMETER stop a\nPARAMETER stop b\n", "MF106") == []


# --------------------------------------------------------------------------- MF2xx


def test_mf201_untagged_external_from():
    f = only(HEAD + "FROM llama3.2\n", "MF201")
    assert (f.line, f.column, f.severity) == (2, 6, "warning")
    assert "llama3.2:latest" in f.message
    assert at(HEAD + "FROM llama3.2:3b\n", "MF201") == []
    assert at(HEAD + "FROM hf.co/org/repo\n", "MF201") == [(2, 6)]


def test_mf201_repo_model_is_a_source_edge_not_an_external_base():
    assert at(HEAD + "FROM engine-bot\n", "MF201", known=("engine-bot",)) == []
    assert at(HEAD + "FROM library/engine-bot\n", "MF201", known=("engine-bot",)) == []
    assert at(HEAD + "FROM acme/bot\n", "MF201", known=("acme/bot",)) == []
    assert at(HEAD + "FROM other/engine-bot\n", "MF201", known=("engine-bot",)) == [(2, 6)]
    f = only(HEAD + "FROM Engine-Bot\n", "MF201", known=("engine-bot",))
    assert f.hint is not None and "'engine-bot'" in f.hint


@pytest.mark.parametrize("tag", ["cloud", "local", "gpt-cloud", "CLOUD"])
def test_mf202_reserved_tag(tag):
    assert at(HEAD + f"FROM x:{tag}\n", "MF202") == [(2, 6)]


def test_mf202_ordinary_tag_is_fine():
    assert at(HEAD + "FROM x:cloudy\n", "MF202") == []


def test_mf203_inline_comment_makes_an_invalid_name():
    f = only(HEAD + "FROM llama3.2:3b # base\n", "MF203")
    assert (f.line, f.column, f.severity) == (2, 6, "error")
    assert f.hint is not None and "inline comments" in f.hint
    assert at(HEAD + "FROM llama3.2:3b\n", "MF203") == []


def test_mf203_empty_from():
    assert at(HEAD + "FROM \n", "MF203") == [(2, 6)]


@pytest.mark.parametrize("value", ["./model.gguf", "../w/model.gguf", "model.gguf", "/x/y.bin"])
def test_mf204_missing_path_like_from(tmp_path, value):
    f = only(HEAD + f"FROM {value}\n", "MF204", base=tmp_path)
    assert (f.line, f.column, f.severity) == (2, 6, "error")
    assert at(HEAD + f"FROM {value}\n", "MF201", base=tmp_path) == []  # not also "untagged"


def test_mf204_paths_resolve_from_the_modelfiles_directory(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "model.gguf").write_bytes(b"GGUF")
    monkeypatch.chdir(tmp_path)  # the cwd has no model.gguf: only the base dir does
    assert lint(HEAD + "FROM ./model.gguf\n", base=tmp_path / "sub") == []
    assert at(HEAD + "FROM ./model.gguf\n", "MF204", base=tmp_path) == [(2, 6)]


def test_from_home_directory_path(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "w.gguf").write_bytes(b"GGUF")
    assert lint(HEAD + "FROM ~/w.gguf\n", base=tmp_path / "elsewhere") == []
    assert at(HEAD + "FROM ~/v.gguf\n", "MF204", base=tmp_path) == [(2, 6)]


def test_existing_path_wins_over_a_name(tmp_path):
    (tmp_path / "llama3.2").mkdir()
    assert lint(HEAD + "FROM llama3.2\n", base=tmp_path) == []  # a directory import


@pytest.mark.parametrize("keyword", ["ADAPTER", "DRAFT"])
def test_mf205_missing_adapter_or_draft(tmp_path, keyword):
    text = HEAD + f"FROM x:1\n{keyword} ./lora.gguf\n"
    f = only(text, "MF205", base=tmp_path)
    assert (f.line, f.column, f.severity) == (3, len(keyword) + 2, "error")
    assert keyword in f.message
    (tmp_path / "lora.gguf").write_bytes(b"GGUF")
    assert at(text, "MF205", base=tmp_path) == []


def test_mf206_two_model_names():
    f = only(HEAD + "FROM a:1\nFROM b:1\n", "MF206")
    assert (f.line, f.column) == (3, 6) and "line 2" in f.message


def test_mf206_name_and_file(tmp_path):
    (tmp_path / "w.gguf").write_bytes(b"GGUF")
    f = only(HEAD + "FROM ./w.gguf\nFROM a:1\n", "MF206", base=tmp_path)
    assert (f.line, f.column) == (2, 6) and "ignored" in f.message
    assert at(HEAD + "FROM ./w.gguf\n", "MF206", base=tmp_path) == []


# --------------------------------------------------------------------------- MF3xx


@pytest.mark.parametrize("keyword", sorted(k.upper() for k in SINGLE_VALUED))
def test_mf301_single_valued_command_twice(keyword):
    value = "0.14.0" if keyword == "REQUIRES" else "v"
    text = HEAD + f"FROM x:1\n{keyword} {value}\n{keyword} {value}\n"
    f = only(text, "MF301")
    assert (f.line, f.column, f.severity) == (4, 1, "warning")
    assert "line 3" in f.message
    assert at(HEAD + f"FROM x:1\n{keyword} {value}\n", "MF301") == []


def test_mf301_not_for_commands_that_accumulate():
    text = HEAD + "FROM x:1\nLICENSE a\nLICENSE b\nMESSAGE user a\nMESSAGE assistant b\n"
    assert at(text + "MESSAGE user c\nMESSAGE assistant d\n", "MF301") == []


def test_mf302_header_comment():
    f = only("\nFROM x:1\n", "MF302")
    assert (f.line, f.column, f.severity) == (2, 1, "info")
    assert at("# model: what it does\nFROM x:1\n", "MF302") == []
    assert at("FROM x:1\n# too late\n", "MF302") == [(1, 1)]
    assert at("#\n# mfops-lint: disable=MF305\nFROM x:1\n", "MF302") == [(3, 1)]


@pytest.mark.parametrize("value", ["0.14.0", "v0.14.0", "0.14", "1", "0.14.0-rc1", "1.2.3+b.01"])
def test_mf303_valid_requires(value):
    assert at(HEAD + f"FROM x:1\nREQUIRES {value}\n", "MF303") == []


@pytest.mark.parametrize("value", ["0.14.0.1", "01.2", "0.14-rc1", "latest", "1.2.3-01", "V1"])
def test_mf303_invalid_requires(value):
    f = only(HEAD + f"FROM x:1\nREQUIRES {value}\n", "MF303")
    assert (f.line, f.column, f.severity) == (3, 10, "error")
    assert f.message.endswith("requires must be a valid semver (e.g. 0.14.0)")


@pytest.mark.parametrize("line", ['SYSTEM ""', 'TEMPLATE """"""', "SYSTEM ", 'PARSER ""'])
def test_mf304_empty_text(line):
    f = only(HEAD + f"FROM x:1\n{line}\n", "MF304")
    assert (f.line, f.severity) == (3, "warning")
    assert at(HEAD + 'FROM x:1\nSYSTEM " "\n', "MF304") == []  # a blank is sent


def test_mf305_keyword_case():
    assert at(HEAD + "from x:1\nSystem hi\n", "MF305") == [(2, 1), (3, 1)]
    assert at(HEAD + "FROM x:1\nSYSTEM hi\n", "MF305") == []


# --------------------------------------------------------------------------- MF4xx


def history(*roles: str) -> str:
    return HEAD + "FROM x:1\n" + "".join(f"MESSAGE {r} text {i}\n" for i, r in enumerate(roles))


def test_good_history_is_quiet():
    found = lint(history("system", "user", "assistant", "user", "assistant"))
    assert found == []


def test_mf401_system_message_after_the_conversation():
    assert at(history("user", "assistant", "system"), "MF401") == [(5, 9)]
    assert at(history("system", "system", "user", "assistant"), "MF401") == []


def test_mf402_same_role_twice():
    f = only(history("user", "user", "assistant"), "MF402")
    assert (f.line, f.column) == (4, 9) and "line 3" in f.message
    assert at(history("user", "assistant", "assistant"), "MF402") == [(5, 9)]
    assert at(history("user", "assistant", "user", "assistant"), "MF402") == []


def test_mf403_history_starts_with_assistant():
    assert at(history("system", "assistant", "user", "assistant"), "MF403") == [(4, 9)]
    assert at(history("system", "user", "assistant"), "MF403") == []


def test_mf404_history_ends_with_user():
    assert at(history("user", "assistant", "user"), "MF404") == [(5, 9)]
    assert at(history("user", "assistant"), "MF404") == []


# --------------------------------------------------------------------------- batches


def test_findings_sorted_by_path_line_column_code(tmp_path):
    (tmp_path / "b.Modelfile").write_text("from llama3.2\n")
    (tmp_path / "a.Modelfile").write_text(HEAD + "FROM x:1\nPARAMETER q 1\nPARAMETER r 1\n")
    report = lint_paths(
        [tmp_path / "b.Modelfile", tmp_path / "a.Modelfile"], display=lambda p: p.name
    )
    keys = [(f.path, f.line, f.column, f.code) for f in report.findings]
    assert keys == [
        ("a.Modelfile", 3, 11, "MF101"),
        ("a.Modelfile", 4, 11, "MF101"),
        ("b.Modelfile", 1, 1, "MF302"),
        ("b.Modelfile", 1, 1, "MF305"),
        ("b.Modelfile", 1, 6, "MF201"),
    ]
    assert report.files == ("b.Modelfile", "a.Modelfile")
    assert (report.count("error"), report.count("warning"), report.count("info")) == (2, 1, 2)
    assert report.failed


def test_report_without_errors_does_not_fail(tmp_path):
    (tmp_path / "Modelfile").write_text("FROM llama3.2\n")
    report = lint_paths([tmp_path / "Modelfile"])
    assert report.findings and not report.failed


def test_finding_json_keys_are_stable():
    f = Finding("p", 1, 2, "MF101", "error", "m")
    assert list(f.to_dict()) == ["path", "line", "column", "code", "severity", "message", "hint"]


def test_crlf_files_report_true_line_numbers():
    text = HEAD.replace("\n", "\r\n") + "FROM x:1\r\nSYSTEM a\r\nPARAMETER top_k x\r\n"
    assert [(f.code, f.line) for f in lint(text)] == [("MF103", 4)]
