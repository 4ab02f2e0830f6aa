"""A model's content fingerprint (server/content.py): the layers and the effective config a
read-back shows, never the machine's blob folder nor the manifest."""

from __future__ import annotations

from dataclasses import replace

from mfops.server.content import content_fingerprint
from mfops.server.show import ServerConfig, ServerMessage

W = "sha256-" + "1" * 64


def _config(**kw: object) -> ServerConfig:
    base = ServerConfig(
        name="bot:v1",
        template="{{ .Prompt }}",
        system="Be brief.",
        parameters={"temperature": 0.2},
        messages=(ServerMessage("user", "hi"),),
        weights=f"/usr/share/ollama/.ollama/models/blobs/{W}",
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_the_blob_folder_name_and_jinja_template_do_not_count():
    one = content_fingerprint(_config())
    assert one == content_fingerprint(_config(weights=f"/home/runner/.ollama/models/blobs/{W}"))
    assert one == content_fingerprint(_config(name="bot:sha-abc", shown_template="{{- jinja }}"))
    assert one.startswith("sha256:") and len(one) == 71


def test_layers_and_config_count():
    one = content_fingerprint(_config())
    for changed in (
        _config(weights="/x/blobs/sha256-" + "2" * 64),
        _config(adapters=("/x/blobs/sha256-" + "3" * 64,)),
        _config(projectors=("/x/blobs/sha256-" + "4" * 64,)),
        _config(system="Be rude."),
        _config(parameters={"temperature": 0.3}),
        _config(messages=()),
        _config(template="{{ .System }}"),
        _config(license_text="MIT"),
    ):
        assert content_fingerprint(changed) != one, changed
