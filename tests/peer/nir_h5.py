#!/usr/bin/python3
"""An independent NIR writer and checker for tests/test_nir.c, with h5py only
(Debian's python3-h5py), following the layout of NIR's own nir.write / nir.read
(neuromorphs/NIR, nir/serialization.py): a string dataset /version, a group
/node of type "NIRGraph" holding nodes/<name>/ (a "type" string and one
dataset per field, gzip-compressed as nir.write does) and edges, an (E, 2)
string dataset.

  nir_h5.py write DIR      writes DIR/W1.f32, DIR/W2.f32 (the weights, raw float32)
                           and NIR files of a 784-16-784 autoencoder: good.nir
                           (as snnTorch exports: dt 1e-4, Linear, nodes "0".."3"),
                           scaled.nir (Affine, float64 parameters, fixed-length
                           strings, Input [1, 28, 28] + Flatten, r = tau / 2) and
                           one bad file per fault the reader must name
  nir_h5.py check FILE [SSM...]
                           checks that FILE is what nir.read (NIR 1.0.8) takes:
                           node fields exactly those of their NIR classes, dtypes,
                           shapes, edges and their types; with SSM files, that the
                           chain's weights, leak and threshold are theirs
                           (read by scripts/ssm.py)
Exit 0 when all is well; otherwise the reason on stderr and exit 1."""
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import ssm  # noqa: E402

# The fields nir.read passes to each class's constructor (NIR 1.0.8): a file
# with other datasets in a node would not load there.
FIELDS = {
    "Input": {"shape"},
    "Output": {"shape"},
    "Affine": {"weight", "bias"},
    "Linear": {"weight"},
    "LIF": {"tau", "r", "v_leak", "v_threshold", "v_reset"},
}
N_IN, HIDDEN = 784, 16


def put(group, name, value, fixed_strings=False):
    if isinstance(value, str):
        if fixed_strings:
            group.create_dataset(name, data=np.bytes_(value))
        else:
            group.create_dataset(name, data=value, dtype=h5py.string_dtype())
    else:
        group.create_dataset(name, data=value, compression="gzip" if np.ndim(value) else None)


def write_graph(path, nodes, edges, fixed_strings=False, version="1.0.8"):
    """nodes: {name: {field: value}} with a "type" each; edges: [(a, b)]."""
    with h5py.File(path, "w") as f:
        put(f, "version", version, fixed_strings)
        g = f.create_group("node")
        put(g, "type", "NIRGraph", fixed_strings)
        ng = g.create_group("nodes")
        for name, fields in nodes.items():
            n = ng.create_group(name)
            for k, v in fields.items():
                put(n, k, v, fixed_strings)
        if fixed_strings:
            g.create_dataset("edges", data=np.array(edges, dtype="S16"))
        else:
            g.create_dataset("edges", data=edges)


def lif(n, dt=1e-4, beta=0.9, dtype=np.float32, r_factor=1.0):
    """A layer of snnTorch's Leaky as its NIR export writes it: tau = dt / (1 - beta), r = tau / dt."""
    tau = (np.full(n, dt, dtype) / (1 - np.full(n, beta, dtype))).astype(dtype)
    return {"type": "LIF", "tau": tau, "r": (tau / dtype(dt) * dtype(r_factor)).astype(dtype),
            "v_leak": np.zeros(n, dtype), "v_threshold": np.ones(n, dtype), "v_reset": np.zeros(n, dtype)}


def autoencoder(w1, w2, synapse="Linear", **lif_args):
    def syn(w):
        node = {"type": synapse, "weight": w}
        if synapse == "Affine":
            node["bias"] = np.zeros(w.shape[0], np.float32)
        return node
    nodes = {"input": {"type": "Input", "shape": np.array([N_IN])}, "0": syn(w1), "1": lif(HIDDEN, **lif_args),
             "2": syn(w2), "3": lif(N_IN, **lif_args), "output": {"type": "Output", "shape": np.array([N_IN])}}
    edges = [("input", "0"), ("0", "1"), ("1", "2"), ("2", "3"), ("3", "output")]
    return nodes, edges


def write_all(d):
    rng = np.random.default_rng(14)
    w1 = rng.uniform(-0.1, 0.1, (HIDDEN, N_IN)).astype(np.float32)
    w2 = rng.uniform(-0.25, 0.25, (N_IN, HIDDEN)).astype(np.float32)
    w1.tofile(os.path.join(d, "W1.f32"))
    w2.tofile(os.path.join(d, "W2.f32"))
    write_graph(os.path.join(d, "good.nir"), *autoencoder(w1, w2))

    nodes, edges = autoencoder(w1, w2, "Affine", dt=1.0, beta=0.9, dtype=np.float64, r_factor=0.5)
    nodes["input"]["shape"] = np.array([1, 28, 28])
    nodes["flat"] = {"type": "Flatten", "start_dim": np.array(0), "end_dim": np.array(-1)}
    edges = [("input", "flat"), ("flat", "0")] + edges[1:]
    write_graph(os.path.join(d, "scaled.nir"), nodes, edges, fixed_strings=True)

    def bad(name, nodes, edges):
        write_graph(os.path.join(d, name + ".nir"), nodes, edges)

    n, e = autoencoder(w1, w2)
    bad("missing-node", n, e[:2] + [("1", "lif9"), ("lif9", "2")] + e[3:])
    n, e = autoencoder(w1, w2)
    del n["output"]
    bad("no-output", n, e[:-1])
    n, e = autoencoder(w1, w2)
    n["2"]["weight"] = w2[:, :15]
    bad("wrong-shape", n, e)
    n, e = autoencoder(w1, w2)
    n["1"]["tau"] = n["1"]["tau"][:3]
    bad("lif-shape", n, e)
    n, e = autoencoder(w1, w2)
    n["0"]["weight"] = (w1 * 1000).astype(np.int32)
    bad("wrong-dtype", n, e)
    n, e = autoencoder(w1, w2)
    del n["3"]["tau"]
    bad("missing-field", n, e)
    n, e = autoencoder(w1, w2)
    n["1"]["type"] = "CubaLIF"
    bad("cubalif", n, e)
    n, e = autoencoder(w1, w2)
    n["1"]["v_leak"][:] = 0.5
    bad("v-leak", n, e)
    n, e = autoencoder(w1, w2)
    n["3"]["tau"][7] = 2e-3
    bad("tau-varies", n, e)
    n, e = autoencoder(w1, w2)
    bad("branch", n, e + [("1", "output")])
    n, e = autoencoder(w1, w2, "Affine")
    n["2"]["bias"][5] = 0.25
    bad("bias", n, e)
    with h5py.File(os.path.join(d, "not-nir.nir"), "w") as f:
        f.create_dataset("weights", data=w1)


def fail(msg):
    sys.exit("nir_h5.py check: " + msg)


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def types_of(name, node):
    """(input_type, output_type) as NIR's classes derive them, for the type check of nir.read."""
    t = text(node["type"][()])
    if t in ("Input", "Output"):
        s = tuple(node["shape"][()])
        return s, s
    if t in ("Affine", "Linear"):
        w = node["weight"]
        return (w.shape[1],), (w.shape[0],)
    shapes = {node[k].shape for k in FIELDS["LIF"]}
    if len(shapes) != 1:
        fail(f"node {name}: LIF parameters of different shapes {shapes}")
    return shapes.pop(), node["tau"].shape


def check_node(name, node):
    t = text(node["type"][()])
    if t not in FIELDS:
        fail(f"node {name}: type {t} is not one spikesynth writes")
    fields = set(node.keys()) - {"type", "metadata"}
    if fields != FIELDS[t]:
        fail(f"node {name} ({t}): fields {sorted(fields)}, NIR's {t} takes {sorted(FIELDS[t])}")
    for k in fields:
        v = node[k]
        kind = "i" if k == "shape" else "f"
        if v.dtype.kind != kind:
            fail(f"node {name}: {k} has dtype {v.dtype}, expected kind {kind}")
        if v.ndim != (2 if k == "weight" else 1):
            fail(f"node {name}: {k} has {v.ndim} dimensions")
    return t


def check(path, ssm_paths):
    with h5py.File(path, "r") as f:
        version = text(f["version"][()])
        if not version[:1].isdigit():
            fail(f"/version is {version!r}")
        g = f["node"]
        if text(g["type"][()]) != "NIRGraph":
            fail("/node is not a NIRGraph")
        nodes = g["nodes"]
        types = {name: check_node(name, nodes[name]) for name in nodes}
        edges = [(text(a), text(b)) for a, b in g["edges"][()]]
        if g["edges"].shape != (len(edges), 2):
            fail(f"edges have shape {g['edges'].shape}")
        nxt = {}
        for a, b in edges:
            if a not in types or b not in types:
                fail(f"edge {a} -> {b} names a node that is not there")
            if types_of(a, nodes[a])[1] != types_of(b, nodes[b])[0]:
                fail(f"edge {a} -> {b}: output type {types_of(a, nodes[a])[1]} is not the input type "
                     f"{types_of(b, nodes[b])[0]}")
            nxt[a] = b
        dt = float(g["metadata"]["dt"][()])
        chain = [n for n, t in types.items() if t == "Input"]
        while types[chain[-1]] != "Output":
            chain.append(nxt[chain[-1]])
        if len(chain) != len(types) or len(edges) != len(types) - 1:
            fail(f"the chain {chain} does not hold every node of {sorted(types)}")
        layers = [n for n in chain if types[n] == "Affine"]
        if ssm_paths and len(ssm_paths) != len(layers):
            fail(f"{len(layers)} layers, {len(ssm_paths)} models to compare")
        for name, p in zip(layers, ssm_paths):
            m, a, li = ssm.load(p), nodes[name], nodes[nxt[name]]
            if not np.array_equal(a["weight"][()], m["w"]) or a["weight"].dtype != np.float32:
                fail(f"node {name}: weight is not that of {p}")
            if np.any(a["bias"][()] != 0) or np.any(li["v_leak"][()] != 0) or np.any(li["v_reset"][()] != 0):
                fail(f"node {name}: a bias, v_leak or v_reset other than 0")
            tau, r = li["tau"][()], li["r"][()]
            if np.any(np.float32(dt / tau.astype(np.float64)) != np.float32(m["leak"])):
                fail(f"node {nxt[name]}: dt / tau = {dt / tau[0]}, the leak of {p} is {m['leak']}")
            if np.any(np.abs(dt * r.astype(np.float64) / tau - 1) > 1e-6):
                fail(f"node {nxt[name]}: the input scale dt r / tau is not 1")
            if np.any(li["v_threshold"][()] != np.float32(m["threshold"])):
                fail(f"node {nxt[name]}: v_threshold is not the threshold of {p}")
        print(f"{path}: NIR {version}, {' -> '.join(chain)}, dt {dt}")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "write":
        write_all(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
