#!/usr/bin/python3
"""Reads a spikesynth model file (.ssm, docs/formats.md) with numpy:
m = ssm.load("models/ae-mnist-bptt-encoder.ssm"); m["w"] is n_out x n_in float32."""
import struct, sys, zlib
import numpy as np

FIELDS = ("kind:32s n_in:i n_out:i leak:f threshold:f clamp:i trace:i optimizer:i lr:f beta1:f beta2:f "
          "eps:f weight_decay:f carry_moments:i steps:i r_max:f mask:i seed:Q epochs:i batches:q samples:q")

def load(path):
    data = open(path, "rb").read()
    magic, version, header_bytes = struct.unpack_from("<8sII", data)
    if magic != b"SSYNMODL" or version not in (1, 2, 3):  # 2 adds the lineage, 3 (a checkpoint) a training state after W
        raise ValueError(f"{path}: not a spikesynth model of format version 1 to 3")
    if zlib.crc32(data[:-4]) != struct.unpack_from("<I", data, len(data) - 4)[0]:
        raise ValueError(f"{path}: checksum mismatch (file corrupt)")
    names, fmt = zip(*(f.split(":") for f in FIELDS.split()))
    m = dict(zip(names, struct.unpack_from("<" + "".join(fmt), data, 16)))
    m["kind"] = m["kind"].split(b"\0")[0].decode()
    m["w"] = np.frombuffer(data, "<f4", m["n_out"] * m["n_in"], 16 + header_bytes).reshape(m["n_out"], m["n_in"])
    return m

if __name__ == "__main__":
    for p in sys.argv[1:]:
        m = load(p)
        print(p, m["kind"], "%d -> %d" % (m["n_in"], m["n_out"]), "leak", m["leak"], "mean |w|", abs(m["w"]).mean())
