"""The double's store: `existing_name` (Ollama's getExistingName) adopts, part by part, the
spelling of the greatest existing manifest name in sorted order; the table behind it is kept
up to date in place as manifests are written, so it must always agree with one rebuilt from
scratch."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mfops.testing.double.names import parse_name
from mfops.testing.double.store import Store

PARTS = st.sampled_from(["bot", "Bot", "BOT", "x", "X", "latest", "Latest", "v1", "V1"])
NAMES = st.builds(lambda m, t: f"{m}:{t}", PARTS, PARTS)
OPS = st.lists(st.tuples(st.sampled_from(["write", "remove"]), NAMES), max_size=25)


def rebuilt(store: Store, name: str) -> tuple[str, str, str, str]:
    """What getExistingName gives, computed from every manifest afresh."""
    key = parse_name(name).key
    parts = list(key)
    for existing in sorted(store.manifests):
        for i in range(4):
            if existing[i].lower() == key[i].lower():
                parts[i] = existing[i]
    return (parts[0], parts[1], parts[2], parts[3])


@settings(max_examples=200, deadline=None)
@given(OPS, st.lists(NAMES, min_size=1, max_size=5))
def test_the_spelling_table_kept_in_place_agrees_with_a_fresh_one(ops, probes):
    store = Store()
    for op, name in ops:
        parsed = parse_name(name)
        if op == "write":
            store.write_manifest(parsed, b"{}")
        else:
            store.remove_manifest(parsed)
        for probe in probes:
            assert store.existing_name(parse_name(probe)).key == rebuilt(store, probe)


def test_a_spelling_written_after_a_lookup_is_adopted_when_it_sorts_last():
    store = Store()
    store.write_manifest(parse_name("Bot:v1"), b"{}")
    assert store.existing_name(parse_name("BOT:v2")).key[2] == "Bot"
    store.write_manifest(parse_name("bot:v3"), b"{}")  # "bot" sorts after "Bot"
    assert store.existing_name(parse_name("BOT:v2")).key[2] == "bot"
    store.write_manifest(parse_name("BOT:v4"), b"{}")  # "BOT" sorts first: no change
    assert store.existing_name(parse_name("bOt:v2")).key[2] == "bot"


def test_a_listing_reads_each_manifest_once_and_follows_every_rewrite():
    from mfops.testing.double import OllamaDouble

    with OllamaDouble() as double:
        double.add_registry_model("base:1b", template="{{ .Prompt }}")
        client = double.client()
        client.pull("base:1b")
        client.create(model="bot", from_="base:1b", system="one")
        first = {m.model: m.details.family for m in client.list().models}
        double.tamper("bot", system="two")
        client.copy("bot", "bot:v2")
        listed = {m.model: (m.digest, m.details.format) for m in client.list().models}
        assert listed["bot:latest"][0] == double.digest("bot")  # the rewrite is listed
        assert listed["bot:v2"] == listed["bot:latest"]
        assert set(first) <= set(listed)
