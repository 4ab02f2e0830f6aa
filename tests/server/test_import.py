"""`mfops import`: a Modelfile for a hand-made server model, which then builds the same."""

from __future__ import annotations

import json

from mfops.testing.double import OllamaDouble
from tests.buildkit import (  # noqa: F401
    BASE,
    HIERARCHY,
    Workspace,
    make_workspace,
    ollama_double_fixture,
    ws_fixture,
)


def test_import_writes_only_what_differs_from_the_base_and_builds_back(ws: Workspace):
    ws.double.client().pull(BASE)
    ws.double.add_local_model(
        "team/support-bot:latest",
        from_=BASE,
        system="Help customers.\nBe brief.",
        parameters={"temperature": 0.3, "stop": ["<|x|>", "END"]},
        license="Extra terms",
        messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hey"}],
    )
    code, out, err = ws.mfops("import", "team/support-bot")
    assert code == 0, err
    assert out == "wrote support-bot/Modelfile (FROM llama3.2:3b)\n"
    text = (ws.root / "support-bot" / "Modelfile").read_text()
    lines = text.splitlines()
    assert lines[0].startswith(
        f"# support-bot: imported by `mfops import` from team/support-bot on {ws.double.url} ("
    )
    assert lines[3:] == [
        "FROM llama3.2:3b",
        "",
        'SYSTEM """Help customers.',
        'Be brief."""',
        "PARAMETER stop <|x|>",
        "PARAMETER stop END",
        "PARAMETER temperature 0.3",
        "LICENSE Extra terms",
        "MESSAGE user hi",
        "MESSAGE assistant hey",
    ]  # the base's TEMPLATE, top_k and license are inherited, not repeated
    ws.repo.commit("import")
    report = ws.build_json("support-bot", "--tag", "managed")
    assert report["ok"]
    original = ws.double.show("team/support-bot:latest")
    rebuilt = ws.double.show("support-bot:managed")
    for key in ("system", "template", "parameters", "license", "messages"):
        assert rebuilt.get(key) == original.get(key), key


def test_base_that_is_a_repo_model_becomes_a_source_from(ws: Workspace):
    ws.build_json("base", "--tag", "t1")
    ws.double.add_local_model("custom:latest", from_="base:t1", system="Custom.")
    code, out, err = ws.mfops("import", "custom", "--stdout")
    assert code == 0, err
    assert "\nFROM base\n" in out
    assert "SYSTEM Custom." in out
    assert "PARAMETER temperature" not in out  # inherited from base
    assert not (ws.root / "custom").exists()


def test_base_built_from_older_repo_content_is_diffed_against_the_current_build(ws: Workspace):
    """The FROM names the repo model, which builds its *current* content: the differences
    must be taken against that, or the rebuilt model silently differs (here temperature)."""
    ws.build_json("base", "--tag", "t1")
    ws.double.add_local_model("custom:latest", from_="base:t1", system="Custom.")
    ws.repo.write("base/Modelfile", HIERARCHY["base/Modelfile"].replace("0.7", "0.5"))
    ws.repo.commit("cooler base")
    code, out, err = ws.mfops("import", "custom")
    assert code == 0, err
    assert "note: the model was built on base:t1, and the repo's current build" in err
    ws.build_json("base", "--tag", "t2")  # the current build is on the server now
    code, out, err = ws.mfops("import", "custom", "--force")
    assert code == 0, err
    assert out == "wrote custom/Modelfile (FROM base:t1)\n"
    assert err == (
        "note: the model was built on base:t1, which is not what the repo builds now "
        f"(base:mf-{ws.ok('digest', 'base').split()[0][7:19]}): the Modelfile sets what "
        "differs from the current build, so it builds the same model\n"
    )
    text = (ws.root / "custom" / "Modelfile").read_text()
    assert text.splitlines()[3:] == ["FROM base", "", "SYSTEM Custom.", "PARAMETER temperature 0.7"]
    ws.repo.commit("import")
    assert ws.build_json("custom", "--tag", "managed")["ok"]
    original, rebuilt = ws.double.show("custom:latest"), ws.double.show("custom:managed")
    for key in ("system", "template", "parameters", "license", "messages"):
        assert rebuilt.get(key) == original.get(key), key


def test_unknown_base_writes_a_draft_that_leaves_the_repo_working(ws: Workspace):
    ws.double.add_local_model("raw:latest", system="From weights.")
    code, out, err = ws.mfops("import", "raw", "--as", "raw-bot")
    assert code == 0, err
    assert not (ws.root / "raw-bot" / "Modelfile").exists()
    text = (ws.root / "raw-bot" / "Modelfile.draft").read_text()
    assert "# DRAFT: FROM names the weights blob" in text
    assert "\nFROM /usr/share/ollama/.ollama/models/blobs/sha256-" in text
    assert "SYSTEM From weights." in text
    assert "TEMPLATE" in text  # every field written: the base is unknown
    assert (
        "wrote raw-bot/Modelfile.draft (a draft: the server does not say which model raw was built FROM)"
        in out
    )
    assert "mv raw-bot/Modelfile.draft raw-bot/Modelfile" in out
    assert "note: FROM names a blob on the server" in err
    # the repo still loads: the draft is not a model
    for args in (("ls",), ("graph",), ("digest",)):
        code, out, err = ws.mfops(*args)
        assert code == 0, (args, err)
        assert "raw-bot" not in out


def test_weights_imported_on_ollama_0_24_write_a_draft(tmp_path):
    """Ollama 0.24 gives a model made from an uploaded GGUF the blob's path in its models
    directory as `details.parent_model` (0.33 gives none): that is no base to read (the
    server answers HTTP 400 "invalid model name" for it), so the import is a draft too."""
    with OllamaDouble(version="0.24.0", rewrite_gguf=False) as double:
        ws = make_workspace(tmp_path, double, {"x/Modelfile": "FROM llama3.2:3b\n"}, lock=False)
        double.add_local_model("raw:latest", system="From weights.")
        parent = double.show("raw")["details"]["parent_model"]
        assert parent.startswith("/usr/share/ollama/.ollama/models/blobs/sha256-")
        code, out, err = ws.mfops("import", "raw")
        assert code == 0, err
        assert out.startswith(
            "wrote raw/Modelfile.draft (a draft: the server does not say which model raw was "
            "built FROM)"
        )
        text = (ws.root / "raw" / "Modelfile.draft").read_text()
        assert f"\nFROM {parent}\n" in text
        assert "SYSTEM From weights." in text
        assert "no longer on the server" not in err


def test_refusals(ws: Workspace):
    code, _, err = ws.mfops("import", "nothing-here")
    assert code == 2
    assert err == f"mfops: no model 'nothing-here' on {ws.double.url} (see `ollama list`)\n"
    ws.double.client().pull(BASE)
    ws.double.add_local_model("base:latest", from_=BASE, system="x")
    code, _, err = ws.mfops("import", "base")
    assert code == 2
    assert "the repo already has a model 'base' (base/Modelfile)" in err
    code, _, err = ws.mfops("import", "base", "--as", "Bad Name")
    assert code == 2 and "--as 'Bad Name'" in err


def test_import_json_free_roundtrip_with_parameters_only(tmp_path, ollama_double):
    ws = make_workspace(tmp_path, ollama_double, {"x/Modelfile": "FROM llama3.2:3b\n"})
    ollama_double.add_local_model("tuned:latest", from_=BASE, parameters={"num_ctx": 8192})
    assert ws.ok("import", "tuned") == "wrote tuned/Modelfile (FROM llama3.2:3b)\n"
    assert (ws.root / "tuned" / "Modelfile").read_text().splitlines()[-1] == (
        "PARAMETER num_ctx 8192"
    )
    ws.repo.commit("tuned")
    report = ws.build_json("tuned", "--tag", "v1")
    assert report["ok"] and json.dumps(report)
