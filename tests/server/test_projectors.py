"""Projector layers (a vision model's extra FROM blobs) are part of what a model is.

`/api/show` prints one extra `FROM <blob>` per projector after DRAFT (ollama-reference §6.5).
Two models that differ only in their projector must not compare equal anywhere mfops decides
"same content": the content fingerprint (promote --verdict), deploy's layers, `diff --server`
and the read-back of a model built on a vision base (review 16 item 6).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mfops.release.deploy import layers_of
from mfops.server.client import Host, Server
from mfops.server.compare import compare_configs
from mfops.server.content import content_fingerprint
from mfops.server.roundtrip import Intended, compare
from mfops.server.show import ServerConfig
from mfops.testing.double import OllamaDouble, fake_gguf
from tests.buildkit import Workspace, make_workspace, ollama_double_fixture  # noqa: F401
from tests.realserver import RealRepo, real_fixture, tiny_gguf  # noqa: F401

WEIGHTS = fake_gguf(name="vision-weights")


def _vision(double: OllamaDouble, name: str, projector: str) -> None:
    """`FROM ./model.gguf` + `FROM ./mmproj.gguf`, through the real client: the same
    weights for every model, a projector seeded by `projector`."""
    client = double.client()
    clip = fake_gguf(architecture="clip", kind="projector", name=projector)
    files = {"model.gguf": double.add_blob(WEIGHTS), "mmproj.gguf": double.add_blob(clip)}
    client.create(model=name, files=files, system="Describe the image.")


def _two(double: OllamaDouble) -> tuple[ServerConfig, ServerConfig]:
    _vision(double, "eye:a", "clip-a")
    _vision(double, "eye:b", "clip-b")
    server = Server(Host(double.url))
    a, b = server.show("eye:a"), server.show("eye:b")
    assert a is not None and b is not None
    return a, b


def test_show_keeps_every_from_after_the_first_as_a_projector(ollama_double: OllamaDouble):
    a, b = _two(ollama_double)
    assert a.weights == b.weights and a.weights.startswith("/")
    assert len(a.projectors) == 1 and a.projectors != b.projectors
    assert a.projectors[0].rpartition("/")[2].startswith("sha256-")
    ollama_double.add_local_model("plain:1")
    plain = Server(Host(ollama_double.url)).show("plain:1")
    assert plain is not None and plain.projectors == ()


def test_models_differing_only_in_their_projector_differ_everywhere(
    ollama_double: OllamaDouble,
):
    a, b = _two(ollama_double)
    assert content_fingerprint(a) != content_fingerprint(b)
    assert layers_of(a)[:1] == layers_of(b)[:1] and layers_of(a) != layers_of(b)
    assert [f.field for f in compare_configs(a, b)] == ["projectors"]
    assert compare_configs(a, a) == ()
    again = Server(Host(ollama_double.url)).show("eye:a")
    assert again is not None and content_fingerprint(again) == content_fingerprint(a)


def test_diff_server_names_the_projector(tmp_path: Path, ollama_double: OllamaDouble):
    _two(ollama_double)
    ws = make_workspace(tmp_path, ollama_double, {"m/Modelfile": "FROM llama3.2:3b\n"}, lock=False)
    code, out, err = ws.mfops("diff", "--server", "eye:a", "eye:b", "--exit-code")
    assert code == 1, err
    assert "eye:b: differs" in out and "    projectors: [" in out
    assert out.endswith("1 differ, 0 same\n")


def test_a_model_built_on_a_vision_base_keeps_its_projector(
    tmp_path: Path, ollama_double: OllamaDouble
):
    """The read-back expects the base's projector: built on eye:a it verifies, and held
    against eye:b's projector it is a mismatch naming the base."""
    a, b = _two(ollama_double)
    ws: Workspace = make_workspace(
        tmp_path, ollama_double, {"cap/Modelfile": "FROM eye:a\nSYSTEM Caption it.\n"}, lock=False
    )
    ws.ok("lock")  # eye:a is a local model: no registry to pull it from
    ws.repo.commit("lock")
    ws.build_json("--all")
    code, out, err = ws.mfops("diff", "--server", "HEAD")
    assert code == 0, err
    assert f"cap:{ws.tag()}: same" in out
    built = Server(Host(ollama_double.url)).show(f"cap:{ws.tag()}")
    assert built is not None and built.projectors and layers_of(built)[1:] == layers_of(a)[1:]
    want = Intended(
        {},
        {},
        False,
        None,
        ((), None),
        False,
        projectors=(tuple(p.rpartition("/")[2] for p in b.projectors), "base eye:b"),
    )
    found = compare(want, built)
    assert [(m.field, m.origin) for m in found] == [("projectors", "base eye:b")]


def test_import_of_a_vision_model_keeps_its_projector_from(
    tmp_path: Path, ollama_double: OllamaDouble
):
    a, _ = _two(ollama_double)
    ws = make_workspace(tmp_path, ollama_double, {"m/Modelfile": "FROM llama3.2:3b\n"}, lock=False)
    code, _, err = ws.mfops("import", "eye:a", "--as", "eye")
    assert code == 0, err
    text = (ws.root / "eye" / "Modelfile.draft").read_text()
    assert f"\nFROM {a.weights}\nFROM {a.projectors[0]}\n" in text
    assert "note: 1 projector layer(s) are blobs on the server" in err


@pytest.mark.ollama
def test_real_server_shows_a_projector_per_extra_from_and_keeps_it_down_the_chain(
    real: RealRepo,
):
    na, nb, ncap = (real.name(n) for n in ("a", "b", "cap"))
    real.write(
        {
            f"{na}/Modelfile": "FROM ./tiny.gguf\nFROM ./mmproj.gguf\n",
            f"{na}/tiny.gguf": tiny_gguf(),
            f"{na}/mmproj.gguf": fake_gguf(architecture="clip", kind="projector", name="clip-a"),
            f"{nb}/Modelfile": f"FROM ../{na}/tiny.gguf\nFROM ./mmproj.gguf\n",
            f"{nb}/mmproj.gguf": fake_gguf(architecture="clip", kind="projector", name="clip-b"),
            f"{ncap}/Modelfile": f"FROM {na}\nSYSTEM Caption it.\n",
        }
    )
    real.build_new("--all")
    a, b, cap = (real.server.show(real.at(n)) for n in ("a", "b", "cap"))
    assert a is not None and b is not None and cap is not None
    assert layers_of(a)[:1] == layers_of(b)[:1] and len(a.projectors) == 1
    assert content_fingerprint(a) != content_fingerprint(b)
    assert layers_of(cap) == layers_of(a)
    code, out, err = real.mfops("diff", "--server", real.at("a"), real.at("b"))
    assert code in (0, 1), err
    assert "    projectors: [" in out and "1 differ, 0 same" in out
