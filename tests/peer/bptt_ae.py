#!/usr/bin/python3
"""bptt_ae: the PyTorch BPTT peer of spikesynth's MNIST spiking autoencoder.

Written the way a competent PyTorch user would write it (snnTorch style: plain
autograd through the unrolled T steps, batched tensors, no per-sample loops), to
measure spikesynth against (scripts/compare-pytorch, `make compare`).

Model and loss as docs/algorithm.md and ../shared/notes/algorithm.md define them:
  784-H-784 LIF layers, no biases, V[t] = (1 - leak) V[t-1] + W A_in[t],
  spike when V >= Vth (1), then V = 0 (hard reset; the reset is detached);
  Poisson input: pixel p in [0, 1] spikes with probability r_max * p each step;
  loss L = sum_t 0.5 |mask[t] .* (Vth X[t] - V2[t])|^2, summed over the output
  neurons and the T steps, averaged over the batch, mask[t] = X[t] XOR S2[t]
  (no gradient through the mask), V2 the output potential before its reset;
  the hidden spike's surrogate derivative is sigma'(V1 - Vth), sigma the logistic;
  gradients by backpropagation through time, one torch Adam step per batch
  (lr 3e-3, weight_decay 1e-4 added to the gradient, betas 0.9/0.999, eps 1e-8);
  initial weights U(-init_scale, init_scale), 0.1 as train-ae-mnist.pipe;
  one epoch over the (first --limit) training images, shuffled with the seed.

Scores on the test split as stages/evaluator.c + common/data/metrics.c do: per
image, the image (pixel / 255 in float32) and the output spike counts, and the
input spike counts and the output counts, are each z-scored (mean, then sample
standard deviation with N - 1, in float64, two passes; a map whose values are all
equal becomes all zeros), the squared difference averaged over the pixels, then
over the images (MSE, Spike-MSE). Pearson r and the pixel MSE (counts / T against
the image) likewise.

Prints one JSON line (samples_per_s over the training loop's wall time only).
Run with Debian's /usr/bin/python3 (python3-torch, python3-numpy).
"""
import argparse
import gzip
import json
import os
import resource
import struct
import sys
import time

import numpy as np
import torch


def read_idx(path, limit=0):
    """An IDX file (raw or .gz) as a uint8 numpy array, its first `limit` items."""
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        path += ".gz"
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        buf = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", buf[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    dims = struct.unpack(">" + "I" * ndim, buf[4:4 + 4 * ndim])
    arr = np.frombuffer(buf, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)
    if limit > 0:
        arr = arr[:limit]
    return arr


def mnist_images(data, split, limit=0):
    """MNIST images of a split as float32 (n, 784) in [0, 1], 255 -> exactly 1."""
    d = os.path.join(data, "mnist")
    if not os.path.isdir(d):
        d = data
    name = "train" if split == "train" else "t10k"
    raw = read_idx(os.path.join(d, f"{name}-images-idx3-ubyte"), limit)
    return raw.reshape(raw.shape[0], -1).astype(np.float32) / np.float32(255.0)


class SigmoidSpike(torch.autograd.Function):
    """Heaviside step forward, the logistic's derivative backward (slope 1)."""

    @staticmethod
    def forward(ctx, u):
        ctx.save_for_backward(u)
        return (u >= 0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad):
        (u,) = ctx.saved_tensors
        s = torch.sigmoid(u)
        return grad * s * (1 - s)


spike_fn = SigmoidSpike.apply


class SpikingAE(torch.nn.Module):
    def __init__(self, n_in, n_hidden, leak, vth, init_scale):
        super().__init__()
        self.fc1 = torch.nn.Linear(n_in, n_hidden, bias=False)
        self.fc2 = torch.nn.Linear(n_hidden, n_in, bias=False)
        for fc in (self.fc1, self.fc2):
            s = init_scale if init_scale > 0 else 1.0 / fc.in_features ** 0.5
            torch.nn.init.uniform_(fc.weight, -s, s)
        self.beta = 1.0 - leak
        self.vth = vth

    def forward(self, x, loss=True):
        """x: input spikes (T, B, n_in). Returns (masked loss or None, output
        spike counts (B, n_in), masked fraction of the error entries)."""
        T, B, _ = x.shape
        z1 = self.fc1(x)  # every step's input current in one product
        v1 = x.new_zeros(B, self.fc1.out_features)
        v2 = x.new_zeros(B, self.fc2.out_features)
        counts = x.new_zeros(B, self.fc2.out_features)
        total = x.new_zeros(())
        masked = 0.0
        for t in range(T):
            v1 = self.beta * v1 + z1[t]
            s1 = spike_fn(v1 - self.vth)
            v2 = self.beta * v2 + self.fc2(s1)
            s2 = (v2 >= self.vth).to(x.dtype)  # only mask and reset use it: no gradient
            counts += s2
            if loss:
                mask = (x[t] != s2).to(x.dtype)  # X XOR S2
                e = mask * (self.vth * x[t] - v2)  # V2 before its reset
                total = total + 0.5 * (e * e).sum()
                masked += float((mask == 0).sum())
            # hard reset to 0, the reset detached
            v1 = v1 * (1 - s1.detach())
            v2 = v2 * (1 - s2)
        frac = masked / (T * x.shape[1] * x.shape[2])
        return (total / B if loss else None), counts, frac


def poisson(images, steps, r_max, gen):
    """(T, B, n) spikes: each pixel p spikes with probability r_max * p per step."""
    u = torch.rand((steps,) + images.shape, generator=gen)
    return (u < r_max * images).to(torch.float32)


# --- the evaluator's scores (common/data/metrics.c), vectorised over images ---

def _moments(x):
    """Per row of x (float32 maps): mean, 1 / sample sd (0 if constant), sum of
    squared deviations, all float64, as metrics.c's moments_of."""
    xd = x.astype(np.float64)
    n = x.shape[1]
    mean = xd.sum(axis=1) / n
    dev = xd - mean[:, None]
    ss = (dev * dev).sum(axis=1)
    constant = (x == x[:, :1]).all(axis=1) | (n < 2)
    ss = np.where(constant, 0.0, ss)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_sd = np.where(~constant & (ss > 0), 1.0 / np.sqrt(ss / (n - 1)), 0.0)
    return dev, inv_sd, ss, constant


def pair_scores(a, b):
    """Per image: mean squared difference of the z-scored maps, and Pearson r
    (0 when either map is constant), as metrics.c's pair_scores."""
    da, ia, ssa, ca = _moments(a)
    db, ib, ssb, cb = _moments(b)
    d = da * ia[:, None] - db * ib[:, None]
    zmse = (d * d).sum(axis=1) / a.shape[1]
    cross = (da * db).sum(axis=1)
    bad = ca | cb | (ssa <= 0) | (ssb <= 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(bad, 0.0, np.clip(cross / np.sqrt(ssa * ssb), -1.0, 1.0))
    return zmse, r


def scores(images, in_counts, out_counts, steps):
    mse, r = pair_scores(images, out_counts)
    spike_mse, _ = pair_scores(in_counts, out_counts)
    pix = ((out_counts.astype(np.float64) * (1.0 / steps) - images.astype(np.float64)) ** 2)
    n_pix = images.shape[1]
    return {
        "test_mse": float(mse.mean()),
        "spike_mse": float(spike_mse.mean()),
        "pearson_r": float(r.mean()),
        "pixel_mse": float((pix.sum(axis=1) / n_pix).mean()),
        "input_rate": float(in_counts.astype(np.float64).sum() / (in_counts.size * steps)),
        "output_rate": float(out_counts.astype(np.float64).sum() / (out_counts.size * steps)),
        "n_test": int(images.shape[0]),
    }


def self_test():
    """The hand values of tests/test_metrics.c, through the scores above."""
    f = lambda rows: np.array(rows, dtype=np.float32)
    z, r = pair_scores(f([[0, 1, 2], [1, 0, 0]]), f([[0, 2, 4], [0, 0, 1]]))
    checks = [(z[0], 0.0), (r[0], 1.0), (z[1], 2.0), (r[1], -0.5)]
    z, r = pair_scores(f([[0.2, 0.5, 0.9]]), f([[0, 0, 0]]))  # a blank output
    checks += [(z[0], 2.0 / 3.0), (r[0], 0.0)]
    z, r = pair_scores(f([[0.1] * 784]), f([[0.1] * 784]))  # constant maps: all zeros
    checks += [(z[0], 0.0), (r[0], 0.0)]
    rng = np.random.default_rng(1)
    a = rng.random((50, 784), dtype=np.float32)
    mix = np.linspace(0, 1, 50)[:, None]
    b = ((mix * a + (1 - mix) * rng.random((50, 784))) * 15).astype(np.float32)
    z, r = pair_scores(a, b)  # z-scored MSE = 2 (N - 1) / N (1 - r)
    checks += list(zip(z, 2 * 783 / 784 * (1 - r)))
    sc = scores(f([[0.5, 1.0], [0.0, 0.25]]), f([[1, 2], [3, 4]]), f([[5, 5], [0, 10]]), 10)
    checks.append((sc["pixel_mse"], (0.125 + 0.28125) / 2))
    bad = [(got, want) for got, want in checks if not abs(got - want) <= 1e-9]
    print(json.dumps({"self_test": "ok" if not bad else "FAILED", "checks": len(checks),
                      "failed": [[float(g), float(w)] for g, w in bad]}))
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.environ.get("DATA", "data"),
                    help="folder holding mnist/ (or the IDX files themselves)")
    ap.add_argument("--hidden", type=int, default=196)
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--leak", type=float, default=0.1)
    ap.add_argument("--r-max", type=float, default=1.0)
    ap.add_argument("--init-scale", type=float, default=0.1,
                    help="initial weights U(-s, s); 0: s = 1/sqrt(fan_in)")
    ap.add_argument("--limit", type=int, default=0, help="train on the first N images (0: all)")
    ap.add_argument("--max-batches", type=int, default=0, help="stop after N batches (0: the epoch)")
    ap.add_argument("--test-limit", type=int, default=0, help="score the first N test images (0: all)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dump", default="", help="also write the test maps (float32) to this folder")
    ap.add_argument("--self-test", action="store_true", help="check the scores on hand values, exit")
    a = ap.parse_args()
    if a.self_test:
        return self_test()

    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)  # hidden potentials drift far below 0: no slow denormals
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)

    train = torch.from_numpy(mnist_images(a.data, "train", a.limit))
    net = SpikingAE(train.shape[1], a.hidden, a.leak, 1.0, a.init_scale)
    opt = torch.optim.Adam(net.parameters(), lr=a.lr, weight_decay=a.weight_decay)

    n_batches = (train.shape[0] + a.batch - 1) // a.batch
    if a.max_batches > 0:
        n_batches = min(n_batches, a.max_batches)
    loss_sum, masked_sum, samples = 0.0, 0.0, 0
    t0 = time.perf_counter()
    order = torch.randperm(train.shape[0], generator=gen)
    for k in range(n_batches):
        idx = order[k * a.batch:(k + 1) * a.batch]
        x = poisson(train[idx], a.steps, a.r_max, gen)
        loss, _, frac = net(x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_sum += float(loss)
        masked_sum += frac
        samples += idx.shape[0]
    train_seconds = time.perf_counter() - t0
    train_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    test = mnist_images(a.data, "test", a.test_limit)

    t1 = time.perf_counter()
    in_counts = np.empty_like(test)
    out_counts = np.empty_like(test)
    with torch.no_grad():
        for s in range(0, test.shape[0], a.batch):
            img = torch.from_numpy(test[s:s + a.batch])
            x = poisson(img, a.steps, a.r_max, gen)
            _, counts, _ = net(x, loss=False)
            in_counts[s:s + a.batch] = x.sum(0).numpy()
            out_counts[s:s + a.batch] = counts.numpy()
    eval_seconds = time.perf_counter() - t1
    sc = scores(test, in_counts, out_counts, a.steps)
    if a.dump:
        os.makedirs(a.dump, exist_ok=True)
        for name, arr in (("images", test), ("in_counts", in_counts), ("out_counts", out_counts)):
            np.ascontiguousarray(arr, dtype=np.float32).tofile(os.path.join(a.dump, name + ".f32"))

    res = {
        "impl": "pytorch-bptt",
        "samples_per_s": samples / train_seconds if train_seconds > 0 else None,
        "train_seconds": train_seconds,
        "train_samples": samples,
        "batches": n_batches,
        "eval_seconds": eval_seconds,
        "peak_rss_mib": train_rss,  # at the end of training (data, torch and the graph)
        "peak_rss_mib_with_eval": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "test_mse": sc["test_mse"],
        "spike_mse": sc["spike_mse"],
        "pearson_r": sc["pearson_r"],
        "pixel_mse": sc["pixel_mse"],
        "input_rate": sc["input_rate"],
        "output_rate": sc["output_rate"],
        "n_test": sc["n_test"],
        "train_loss": loss_sum / max(n_batches, 1),
        "masked_fraction": masked_sum / max(n_batches, 1),
        "settings": {
            "layers": [train.shape[1], a.hidden, train.shape[1]], "steps": a.steps,
            "batch": a.batch, "lr": a.lr, "weight_decay": a.weight_decay, "leak": a.leak,
            "vth": 1.0, "r_max": a.r_max, "init": f"U(-{a.init_scale}, {a.init_scale})"
            if a.init_scale > 0 else "U(+-1/sqrt(fan_in))", "limit": a.limit,
            "max_batches": a.max_batches, "seed": a.seed, "threads": torch.get_num_threads(),
            "optimizer": "torch.optim.Adam, one step per batch", "surrogate": "sigmoid'(v - vth)",
            "loss": "sum over steps and outputs of 0.5 (mask (vth X - V2))^2, mean over batch",
            "torch": torch.__version__,
        },
    }
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    sys.exit(main())
