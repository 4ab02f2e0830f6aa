"""Rehearse a model repository offline: an Ollama API double, pytest fixtures and a demo.

    python -m mfops.testing --registry llama3.2:3b     # serve the double; prints its URL
    OLLAMA_HOST=<that URL> mfops build --all && mfops test && mfops gate ...

    def test_my_models(ollama_double_seeded):        # pytest fixtures, installed with mfops
        ...

What is here:

- `mfops.testing.double`: `OllamaDouble`, a fake Ollama server spoken to over real HTTP on
  127.0.0.1 by the real `ollama` client (and so by mfops): create (from a model or uploaded
  GGUF blobs, with Ollama's inheritance rules and progress stream), blobs, show, tags, copy,
  delete, pull from a pretend registry, version, and generate / chat / embed. Faults
  (latency, errors, dropped connections, slow streams) can be injected per endpoint, and
  every call is recorded.
- `mfops.testing.plugin`: pytest fixtures `ollama_double` (an empty double) and
  `ollama_double_seeded` (a double with a pullable base, an embedding model and a judge, see
  `seed.py`), registered automatically when mfops is installed.
- `mfops.testing.demo`: the job behind `mfops demo`.

What the toy model can tell you, and what it cannot. Its replies are computed from the
rules written in the model's SYSTEM prompt (refuse a topic, answer only about some topics,
a persona, JSON output, a language, upper or lower case, a compliance rate; the full list is
in `double/toymodel.py`), from MESSAGEs and from PARAMETERs such as `seed`, `temperature`
and `num_predict`. So it tells whether mfops' whole pipeline works on your repository:
your Modelfiles build in order on a server, inheritance gives each model the SYSTEM,
MESSAGEs and parameters you expect, your suites load and their assertions are wired to the
right models, a changed SYSTEM line makes the affected cases fail and the rest pass, and the
gate and promotion behave as your CI would. It cannot tell whether a real model obeys your
prompt, how good, fast or safe its answers are, or how a new base model or quantisation
changes them: the toy model understands only the sentence patterns it knows, follows them
exactly, and ignores the weights, the template and every other instruction. A suite that
passes against the double proves the plumbing, not the model; run it against a real Ollama
(`OLLAMA_HOST=...`) before promoting a real release.

The core of mfops never imports this package (tests/test_architecture.py checks it).
"""
