"""Hand-written PyTorch training loop of mnist_cnn, as a user would write it without the suite.

Standalone: imports nothing from suites/, harness/ or backends/. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch import nn

BATCH = 128
WARMUP = 10


def make_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, 10))


def make_optimizer(params: list[nn.Parameter]) -> tuple[torch.optim.Optimizer, str]:
    """Adam with the fused kernel when this build has it for the device, else the multi-tensor (foreach) one."""
    try:
        return torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, fused=True), "fused"
    except (RuntimeError, ValueError):
        return torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, foreach=True), "foreach"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=7)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    model = make_model().to(device)
    model.train()
    optimizer, impl = make_optimizer(list(model.parameters()))
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randn(BATCH, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (BATCH,), device=device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def step() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    for _ in range(WARMUP):
        step()
    sync()
    rates = []
    for _ in range(args.trials):
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        sync()
        rates.append(args.steps * BATCH / (time.perf_counter() - start))
    print(json.dumps({"framework": "torch", "samples_per_s": rates, "median": statistics.median(rates),
                      "batch_size": BATCH, "steps": args.steps, "trials": args.trials, "optimizer_impl": impl,
                      "threads": torch.get_num_threads(), "version": torch.__version__}))


if __name__ == "__main__":
    main()
