"""Export the pretrained musicnn taggers (Pons & Serra 2019) from the musicnn wheel to ONNX.

The ``musicnn==0.1.0`` wheel (ISC licence) holds TF1 checkpoints of ``MSD_musicnn`` (50 Million
Song Dataset tags) and ``MTT_musicnn`` (50 MagnaTagATune tags). This script rebuilds each graph
with the wheel's own ``musicnn.models.define_model`` (inference mode), restores the checkpoint,
freezes it and converts it with tf2onnx, then checks the ONNX model against TensorFlow on real
clips before anything is written. Nothing at run time needs TensorFlow or musicnn afterwards:
:mod:`midi2img.tagger` runs the ONNX files with onnxruntime.

Outputs (in ``--out``, default ``models/musicnn``):

- ``msd_musicnn.onnx``, ``mtt_musicnn.onnx``: input ``log_mel`` float32 ``(batch, 187, 96)``;
  outputs ``probabilities`` ``(batch, 50)`` (sigmoid), ``penultimate`` ``(batch, 200)`` (the
  backend's dense layer, after batch norm) and ``max_pool`` ``(batch, 753)`` (temporal max-pool
  of the mid-end, the embedding of musicnn's transfer-learning examples).
- ``musicnn.json``: per model the tag order, input shape, front-end parameters, output names,
  sha256 of the ONNX file, the source wheel's version and the checked agreement.
- ``LICENSE``: the wheel's ISC licence text.

Re-running gives byte-identical ONNX files. tf2onnx 1.17 on its own does not: its optimizer
walks a ``list(set(nodes))`` (memory-address order), which can change the graph it produces, and
it names inserted nodes from a process-wide counter. :func:`_stable_tf2onnx` pins that order and
:func:`canonical_names` renames every internal tensor by position; each model is converted twice
and the bytes must agree before it is written (checked across processes with different
``PYTHONHASHSEED``: same sha256). ``musicnn.json`` is written only when both models pass, and
``MODEL_CARD.md`` is written by hand. Requirements, installed without moving the project's
pins (tensorflow 2.15, numpy 1.26, protobuf 4.25)::

    pip install --no-deps musicnn==0.1.0
    pip install tf2onnx==1.17.0 onnx==1.17.0

Usage::

    python tools/export_musicnn.py [--out models/musicnn] [--data DIR] [--tolerance 1e-4]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata as md
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

#: The models exported, with the file stem each gets.
MODELS = {"MSD_musicnn": "msd_musicnn", "MTT_musicnn": "mtt_musicnn"}
#: ONNX opset of the exported graphs (onnxruntime 1.31 runs up to opset 23).
OPSET = 17
N_FRAMES = 187
N_MELS = 96
INPUT_NAME = "log_mel"
OUTPUT_NAMES = ("probabilities", "penultimate", "max_pool")
#: Real clips (relative to the data folder) for the TF-vs-ONNX check; the missing ones are
#: skipped, but at least one must be there.
CHECK_CLIPS = (
    "gtzan/audio/jazz.00000.au",
    "gtzan/audio/rock.00000.au",
    "audio/Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).ogg",
    "audio/sorohanro_-_solo-trumpet-06.ogg",
)


def musicnn_dir() -> Path:
    """Folder of the installed musicnn package (the wheel), found without importing it."""
    spec = importlib.util.find_spec("musicnn")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("musicnn is not installed: pip install --no-deps musicnn==0.1.0")
    return Path(list(spec.submodule_search_locations)[0])


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def freeze(model: str) -> tuple[Any, dict[str, str]]:
    """Build ``model`` from the wheel in inference mode, restore its checkpoint and freeze it.

    Returns:
        The frozen GraphDef and the map from its tensor names to the ONNX names.
    """
    import tensorflow as tf
    from musicnn import configuration, models

    labels = configuration.MTT_LABELS if model.startswith("MTT") else configuration.MSD_LABELS
    graph = tf.Graph()
    with graph.as_default():
        # Same scoping as musicnn.extractor.extractor, so variable names match the checkpoint;
        # ``is_training=False`` (a Python bool) selects the batch-norm moving statistics and
        # removes dropout, as feeding False to the extractor's placeholder does.
        with tf.name_scope("model"):
            x = tf.compat.v1.placeholder(tf.float32, [None, N_FRAMES, N_MELS], name=INPUT_NAME)
            out = models.define_model(x, False, model, len(labels))
            logits, max_pool, penultimate = out[0], out[7], out[8]
            tensors = {
                "probabilities": tf.nn.sigmoid(logits, name="probabilities"),
                "penultimate": tf.identity(penultimate, name="penultimate"),
                "max_pool": tf.identity(max_pool, name="max_pool"),
            }
        sess = tf.compat.v1.Session(graph=graph)
        saver = tf.compat.v1.train.Saver()
        # The checkpoint prefix is the folder itself (files ``.index``, ``.data-*``). Unlike the
        # extractor (which swallows the error and runs untrained weights), fail loudly.
        saver.restore(sess, str(musicnn_dir() / model) + "/")
        frozen = tf.compat.v1.graph_util.convert_variables_to_constants(
            sess, graph.as_graph_def(), [t.op.name for t in tensors.values()])
        sess.close()
    names = {f"model/{INPUT_NAME}:0": INPUT_NAME}
    names.update({t.name: k for k, t in tensors.items()})
    return frozen, names


def run_tf(frozen: Any, names: dict[str, str], batch: np.ndarray) -> dict[str, np.ndarray]:
    """Run the frozen graph on ``batch`` (windows, 187, 96); outputs by ONNX name."""
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(frozen, name="")
    inv = {v: k for k, v in names.items()}
    with tf.compat.v1.Session(graph=graph) as sess:
        vals = sess.run([inv[o] for o in OUTPUT_NAMES], {inv[INPUT_NAME]: batch})
    return dict(zip(OUTPUT_NAMES, vals, strict=True))


def _stable_tf2onnx() -> None:
    """Make tf2onnx's conversion repeatable (it is not, as shipped).

    ``Graph.extract_sub_graph_nodes`` returns ``list(set_of_nodes)``: an order that follows
    memory addresses, which then steers the transpose optimizer, so two conversions of one graph
    could give different (equivalent) graphs. Here it keeps the graph's own node order instead.
    """
    from tf2onnx.graph import Graph

    if getattr(Graph.extract_sub_graph_nodes, "_stable", False):
        return
    original = Graph.extract_sub_graph_nodes

    def extract_sub_graph_nodes(self: Any, *args: Any, **kwargs: Any) -> list[Any]:
        nodes = original(self, *args, **kwargs)
        order = {id(n): i for i, n in enumerate(self.get_nodes())}
        return sorted(nodes, key=lambda n: (order.get(id(n), len(order)), n.name))

    extract_sub_graph_nodes._stable = True  # type: ignore[attr-defined]
    Graph.extract_sub_graph_nodes = extract_sub_graph_nodes


def canonical_names(proto: Any) -> None:
    """Rename every internal tensor, node and initializer by its position, in place.

    tf2onnx names the nodes it inserts from a process-wide counter (``Conv2D__123``), so the
    names would change with what ran before; the graph's inputs and outputs keep their names.
    """
    g = proto.graph
    keep = {v.name for v in list(g.input) + list(g.output)}
    inits = {t.name for t in g.initializer}
    renamed: dict[str, str] = {}
    n_const = 0
    for k, node in enumerate(g.node):
        for j, name in enumerate(node.input):
            if name in inits and name not in renamed:
                renamed[name] = f"const_{n_const}"
                n_const += 1
            if name in renamed:
                node.input[j] = renamed[name]
        node.name = f"{node.op_type}_{k}"
        for j, name in enumerate(node.output):
            if name not in keep:
                renamed[name] = node.output[j] = f"{node.name}:{j}"
    if set(inits) - set(renamed) or len(g.value_info):
        raise RuntimeError("unexpected graph layout (unused initializers or value_info)")
    tensors = sorted(g.initializer, key=lambda t: int(renamed[t.name].split("_")[1]))
    copies = []
    for t in tensors:
        c = type(t)()
        c.CopyFrom(t)
        c.name = renamed[t.name]
        copies.append(c)
    del g.initializer[:]
    g.initializer.extend(copies)


def to_onnx(frozen: Any, names: dict[str, str], model: str) -> bytes:
    """Convert the frozen graph with tf2onnx; serialised ONNX bytes with readable I/O names."""
    import onnx
    import tf2onnx

    _stable_tf2onnx()
    inputs = [k for k, v in names.items() if v == INPUT_NAME]
    outputs = [k for k, v in names.items() if v != INPUT_NAME]
    proto, _ = tf2onnx.convert.from_graph_def(
        frozen, name=model, input_names=inputs, output_names=outputs, opset=OPSET,
        tensors_to_rename=names)
    canonical_names(proto)
    for value in list(proto.graph.input) + list(proto.graph.output):
        dim = value.type.tensor_type.shape.dim[0]
        dim.Clear()
        dim.dim_param = "batch"
    proto.doc_string = (f"musicnn {model} (Pons & Serra 2019), exported from the musicnn "
                        f"{md.version('musicnn')} wheel by tools/export_musicnn.py; ISC licence")
    onnx.checker.check_model(proto)
    return bytes(proto.SerializeToString(deterministic=True))


def run_onnx(data: bytes, batch: np.ndarray) -> dict[str, np.ndarray]:
    """Run serialised ONNX bytes on ``batch`` with onnxruntime (CPU)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    vals = sess.run(list(OUTPUT_NAMES), {INPUT_NAME: batch})
    return dict(zip(OUTPUT_NAMES, vals, strict=True))


def check_batches(data_dir: Path) -> dict[str, np.ndarray]:
    """Log-mel windows of the check clips, made by the wheel's own ``batch_data`` (1 s hop)."""
    from musicnn import extractor

    out = {}
    for rel in CHECK_CLIPS:
        path = data_dir / rel
        if path.exists():
            batch, _ = extractor.batch_data(str(path), N_FRAMES, 61)
            out[rel] = batch.astype(np.float32)
    if not out:
        raise SystemExit(f"none of the check clips is under {data_dir} (set --data)")
    return out


def main(argv: list[str] | None = None) -> int:
    """Export both models; returns a process exit code."""
    repo = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=repo / "models" / "musicnn")
    ap.add_argument("--data", type=Path, default=None,
                    help="shared data folder (default: midi2img.config.data_dir())")
    ap.add_argument("--tolerance", type=float, default=1e-4,
                    help="largest |ONNX - TF| allowed (probabilities: absolute; embeddings: "
                         "relative to their largest value)")
    args = ap.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # plain float32 kernels in the check
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    if args.data is None:
        from midi2img.config import data_dir

        args.data = data_dir()
    from musicnn import configuration

    batches = check_batches(args.data)
    print(f"check clips: {', '.join(f'{k} ({len(v)} windows)' for k, v in batches.items())}")
    args.out.mkdir(parents=True, exist_ok=True)
    card: dict[str, Any] = {
        "source": {"package": "musicnn", "version": md.version("musicnn"),
                   "url": "https://github.com/jordipons/musicnn", "licence": "ISC",
                   "paper": "Pons & Serra (2019), musicnn: pre-trained convolutional neural "
                            "networks for music audio tagging, arXiv:1909.06654"},
        "exporter": {"tensorflow": md.version("tensorflow"), "tf2onnx": md.version("tf2onnx"),
                     "onnx": md.version("onnx"), "opset": OPSET},
        "frontend": {"sample_rate_hz": configuration.SR, "n_fft": configuration.FFT_SIZE,
                     "hop_length": configuration.FFT_HOP, "n_mels": configuration.N_MELS,
                     "window": "hann (periodic)", "center": True, "pad_mode": "constant",
                     "power": 2.0, "mel": "librosa.filters.mel(htk=False, norm='slaney', "
                                          "fmin=0, fmax=sr/2)",
                     "quantise": "float16 (the wheel casts the mel power to float16)",
                     "log": "log10(10000 * mel + 1)", "window_frames": N_FRAMES,
                     "window_s": N_FRAMES * configuration.FFT_HOP / configuration.SR},
        "input": {"name": INPUT_NAME, "shape": ["batch", N_FRAMES, N_MELS], "dtype": "float32"},
        "outputs": {"probabilities": 50, "penultimate": 200, "max_pool": 753},
        "models": {},
    }
    failed = False
    for model, stem in MODELS.items():
        labels = configuration.MTT_LABELS if model.startswith("MTT") else configuration.MSD_LABELS
        frozen, names = freeze(model)
        data = to_onnx(frozen, names, model)
        if to_onnx(frozen, names, model) != data:  # a second conversion must give the same bytes
            print(f"{model}: tf2onnx gave two different graphs; not written", file=sys.stderr)
            failed = True
            continue
        # Probabilities lie in [0, 1]: absolute difference. The embeddings are unbounded ReLU
        # features (max_pool reaches ~10): difference relative to the largest |value|.
        worst = {o: 0.0 for o in OUTPUT_NAMES}
        for batch in batches.values():
            ref, got = run_tf(frozen, names, batch), run_onnx(data, batch)
            for o in OUTPUT_NAMES:
                scale = 1.0 if o == "probabilities" else max(1.0, float(np.max(np.abs(ref[o]))))
                worst[o] = max(worst[o], float(np.max(np.abs(ref[o] - got[o]))) / scale)
        print(f"{model}: max |ONNX - TF| (embeddings: / max |TF|) "
              + ", ".join(f"{k} {v:.2e}" for k, v in worst.items()))
        if max(worst.values()) > args.tolerance:
            print(f"{model}: ONNX differs from TensorFlow beyond {args.tolerance}; not written",
                  file=sys.stderr)
            failed = True
            continue
        path = args.out / f"{stem}.onnx"
        tmp = path.with_suffix(".onnx.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        card["models"][stem] = {
            "name": model, "file": path.name, "sha256": sha256(path), "bytes": path.stat().st_size,
            "training_data": ("Million Song Dataset (Last.fm top-50 tags)" if "MSD" in model
                              else "MagnaTagATune (top-50 tags)"),
            "tags": list(labels),
            "check": {"clips": list(batches), "max_diff_vs_tensorflow": worst,
                      "note": "probabilities: absolute; embeddings: relative to max |value|"},
        }
    if failed:
        return 1
    (args.out / "musicnn.json").write_text(json.dumps(card, indent=2) + "\n")
    lic = musicnn_dir().parent / f"musicnn-{md.version('musicnn')}.dist-info" / "LICENSE.md"
    (args.out / "LICENSE").write_text(lic.read_text())
    print(f"wrote {', '.join(sorted(p.name for p in args.out.iterdir()))} in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
