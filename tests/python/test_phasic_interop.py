"""ptd's graph files, hashes and moments against the real phasic 0.32.1."""

import json
import tomllib
from pathlib import Path

import pytest

import phasic
from phasic.phasic_pybind import hash as phasic_hash

ROOT = Path(__file__).resolve().parents[2]
MODELS = sorted(p.parent for p in (ROOT / "models").glob("*/*/model.toml"))


def theta_for(model_dir):
    params = tomllib.loads((model_dir / "model.toml").read_text())["model"][
        "parameters"
    ]
    return [0.8 + 0.3 * i for i in range(len(params))]


def assert_close(a, b, tol=1e-10):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert abs(x - y) <= tol * abs(y), (a, b)


@pytest.mark.parametrize("model", MODELS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_export_loads_in_phasic_with_same_hash_and_moments(ptd, tmp_path, model):
    out = tmp_path / "graph.json"
    ptd("graph", "export", model, "-o", out)
    g = phasic.Graph.from_serialized(json.loads(out.read_text()))
    hashes = json.loads(ptd("hash", model, "--json"))
    assert phasic_hash.compute_graph_hash(g).hash_hex == hashes["phasic"]
    theta = theta_for(model)
    g.update_weights(theta)
    want = [float(x) for x in g.moments(3)]
    got = json.loads(
        ptd(
            "eval",
            model,
            "--theta",
            ",".join(map(str, theta)),
            "--moments",
            "3",
            "--json",
        )
    )
    assert_close(got["moments"], want)


def test_bundle_evaluates_like_phasic(ptd, tmp_path):
    model = tmp_path / "bc"
    model.mkdir()
    (model / "model.toml").write_text(
        '[model]\nname = "test/bc"\nversion = "1.0.0"\ndescription = ""\nlicense = "MIT"\n'
        'parameters = ["theta"]\n\n[generator]\nname = "coalescent/block-counting"\nargs = { samples = 14 }\n'
    )
    bundle = ptd("build", model, "-o", tmp_path / "out").strip()
    g = phasic.Graph.from_serialized(json.loads(ptd("graph", "export", bundle)))
    assert (
        phasic_hash.compute_graph_hash(g).hash_hex
        == json.loads(ptd("hash", bundle, "--json"))["phasic"]
    )
    for theta in (0.3, 1.0, 4.2):
        g.update_weights([theta])
        want = [float(x) for x in g.moments(4)]
        got = json.loads(
            ptd("eval", bundle, "--theta", theta, "--moments", "4", "--json")
        )["moments"]
        assert_close(got, want)


def test_a_graph_phasic_wrote_is_read_by_ptd(ptd, tmp_path):
    # Built in phasic with two parameters and a cycle, serialized by phasic, read by ptd.
    g = phasic.Graph(1)
    s = g.starting_vertex()
    a, b, c = (g.find_or_create_vertex([k]) for k in (1, 2, 3))
    s.add_edge(a, 1.0)
    a.add_edge(b, [1.0, 0.0])
    b.add_edge(a, [0.0, 2.0])
    b.add_edge(c, [0.5, 0.5])
    data = {
        k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in g.serialize().items()
    }
    f = tmp_path / "cycle.json"
    f.write_text(json.dumps(data))
    assert (
        json.loads(ptd("hash", f, "--json"))["phasic"]
        == phasic_hash.compute_graph_hash(phasic.Graph.from_serialized(data)).hash_hex
    )
    g.update_weights([1.5, 0.7])
    got = json.loads(ptd("eval", f, "--theta", "1.5,0.7", "--moments", "3", "--json"))[
        "moments"
    ]
    assert_close(got, [float(x) for x in g.moments(3)])
