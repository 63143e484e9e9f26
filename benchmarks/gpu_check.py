"""On a CUDA machine: do the CUDA results equal the CPU kernels, and how fast is training there?

    python benchmarks/gpu_check.py              # both checks, both datasets (a few minutes at most)
    python benchmarks/gpu_check.py --quick      # fewer timed batches

1. Agreement: the same batches of K = 8 networks through the compiled CPU kernels and the torch
   backend on CUDA, in float64 (loss and gradients must agree to 1e-9 relative) and in float32
   (to 1e-3), on Fashion-MNIST shapes (the real test split when ../shared/data has it) and SHD
   shapes (784-100-10, T = 100; 700-200-20, T = 200, 4 100 Poisson input spikes per sample).
2. Speed: training steps (forward, backward, Adam, Dale bound) of K = 1, 8 and 64 networks on
   CUDA, as network-epochs per hour of the full datasets (60 000 and 8 156 training samples).

Exit status: 0 if every comparison agrees, 1 if one does not, 2 without a CUDA device (one line
saying so: nothing can be checked).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import BATCH, FMNIST, SHD, initial_weights, make_input

NETWORKS = (1, 8, 64)
TOLERANCE = {torch.float64: 1e-9, torch.float32: 1e-3}


def no_cuda_message() -> str | None:
    """Why nothing can be checked here, or None on a CUDA machine."""
    if torch.cuda.is_available():
        return None
    build = f"built with CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
    return f"no CUDA device: nothing to check (torch {torch.__version__}, {build})"


def ensemble(shape: dict, n_networks: int, dtype: torch.dtype):
    """K networks of the benchmark's 80:20 initialisation, seeds 0..K-1."""
    weights = [initial_weights(shape, seed) for seed in range(n_networks)]
    w_in = torch.stack([w[0] for w in weights]).to(dtype)
    w_out = torch.stack([w[1] for w in weights]).to(dtype)
    sign = torch.stack([torch.where(torch.as_tensor(w[2]), 1.0, -1.0) for w in weights]).view(n_networks, -1, 1)
    return w_in, w_out, sign.to(dtype)


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.cpu() - b.cpu()).abs().max() / b.abs().max().clamp_min(1e-30))


def compare(name: str, shape: dict, dataset, n_batches: int, device: str = "cuda") -> bool:
    """The torch backend on `device` against the compiled CPU kernels, float64 then float32."""
    from eisnn.model import forward_backward, make_input_batch
    from eisnn.params import ModelConfig

    config = ModelConfig(readout="per_step")
    agree = True
    for dtype in (torch.float64, torch.float32):
        w_in, w_out, _ = ensemble(shape, 8, dtype)
        worst = 0.0
        for i in range(n_batches):
            indices = np.stack([np.arange(i * BATCH, (i + 1) * BATCH)] * 8)
            cpu = forward_backward(w_in, w_out, make_input_batch(dataset, indices), config, backend="compiled")
            gpu = forward_backward(w_in.to(device), w_out.to(device), make_input_batch(dataset, indices, device),
                                   config, backend="torch")
            worst = max(worst, *(relative_difference(getattr(gpu, key), getattr(cpu, key))
                                 for key in ("loss", "grad_w_in", "grad_w_out")))
        ok = worst <= TOLERANCE[dtype]
        agree &= ok
        print(f"{name} {str(dtype).removeprefix('torch.')}: {device} vs CPU kernels, worst relative difference "
              f"{worst:.1e} over loss and gradients ({'agrees' if ok else 'DISAGREES'}, tolerance {TOLERANCE[dtype]:.0e})")
    return agree


def speed(shape: dict, dataset, n_networks: int, n_batches: int, device: str = "cuda") -> float:
    """Network-epochs per hour of training K networks on `device` (float32, torch backend)."""
    from eisnn.model import dale_bound_, forward_backward, make_input_batch
    from eisnn.params import ModelConfig
    from eisnn.train import Adam

    config = ModelConfig(readout="per_step")
    w_in, w_out, sign = (x.to(device) for x in ensemble(shape, n_networks, torch.float32))
    constrained = torch.ones(n_networks, 1, 1, dtype=torch.bool, device=device)
    optimizer = Adam([w_in, w_out], 2e-4, (0.9, 0.999), 1e-8)
    rng = np.random.default_rng(0)
    warmup = 2
    synchronize = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    for i in range(warmup + n_batches):
        if i == warmup:
            synchronize()
            started = time.perf_counter()
        indices = np.stack([rng.choice(dataset.n_samples, BATCH, replace=False) for _ in range(n_networks)])
        result = forward_backward(w_in, w_out, make_input_batch(dataset, indices, device), config, backend="torch")
        optimizer.step([result.grad_w_in, result.grad_w_out])
        dale_bound_(w_in, w_out, sign, constrained)
    synchronize()
    seconds_per_batch = (time.perf_counter() - started) / n_batches
    return n_networks * 3600.0 / (seconds_per_batch * (shape["n_train"] // BATCH))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 compared and 3 timed batches (default 3 and 10)")
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/fashion-mnist")
    args = parser.parse_args(argv)
    message = no_cuda_message()
    if message:
        print(message)
        return 2
    compared, timed = (2, 3) if args.quick else (3, 10)
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    agree = True
    for name, shape in (("Fashion-MNIST", FMNIST), ("SHD", SHD)):
        dataset = make_input(shape, 4 * BATCH, shape is SHD, args.data_dir)
        agree &= compare(name, shape, dataset, compared)
        for n_networks in NETWORKS:
            rate = speed(shape, dataset, n_networks, timed)
            print(f"{name} K = {n_networks:3d}: {rate:10.0f} network-epochs/h on CUDA")
    print("CUDA agrees with the CPU kernels" if agree else "CUDA DISAGREES with the CPU kernels")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
