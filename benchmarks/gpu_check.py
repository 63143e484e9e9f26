"""Compare the CPU (compiled) and CUDA (torch) backends: losses and gradients for a few batches.

    python benchmarks/gpu_check.py                      # K = 8 networks, 3 batches, FMNIST shapes
    python benchmarks/gpu_check.py --networks 1024      # also times one batch at that K on the GPU

Exits 1 if the backends disagree beyond float32 tolerance, 2 if no CUDA device is present.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from eisnn.data import encode_fashion_mnist, make_synthetic
from eisnn.initial import init_weights
from eisnn.model import forward_backward, make_input_batch
from eisnn.params import ModelConfig, reference_weight_scale


def max_relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    scale = b.abs().max().clamp_min(1e-12)
    return float((a - b.to(a.device)).abs().max() / scale)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", type=int, default=8)
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--tolerance", type=float, default=1e-3)
    parser.add_argument(
        "--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/fashion-mnist"
    )
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to compare")
        return 2

    if args.data_dir.exists():
        dataset = encode_fashion_mnist(args.data_dir, "test")
    else:
        dataset = make_synthetic(args.batches * 256, n_units=784, n_steps=100, n_classes=10)
    config = ModelConfig()
    sigmas = np.geomspace(1e-3, 3e-2, args.networks)
    weights = [
        init_weights(784, 100, 10, 0.8, float(s), reference_weight_scale(100, config), torch.Generator().manual_seed(k))
        for k, s in enumerate(sigmas)
    ]
    w_in = torch.stack([w[0] for w in weights])
    w_out = torch.stack([w[1] for w in weights])
    cuda = torch.device("cuda")
    worst = 0.0
    for i in range(args.batches):
        indices = np.stack([np.arange(i * 256, (i + 1) * 256)] * args.networks)
        cpu = forward_backward(w_in, w_out, make_input_batch(dataset, indices), config)
        started = time.perf_counter()
        gpu = forward_backward(
            w_in.to(cuda), w_out.to(cuda), make_input_batch(dataset, indices, cuda), config
        )
        torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        differences = {
            "loss": max_relative_difference(gpu.loss, cpu.loss),
            "grad_w_in": max_relative_difference(gpu.grad_w_in, cpu.grad_w_in),
            "grad_w_out": max_relative_difference(gpu.grad_w_out, cpu.grad_w_out),
        }
        worst = max(worst, *differences.values())
        print(f"batch {i}: " + ", ".join(f"{k} {v:.2e}" for k, v in differences.items()) + f"; GPU {seconds * 1e3:.1f} ms")
    print(f"worst relative difference {worst:.2e} (tolerance {args.tolerance:.0e})")
    return 0 if worst <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
