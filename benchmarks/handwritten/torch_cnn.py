"""Hand-written PyTorch loops of mnist_cnn (training step and inference), as a user would write them.

Standalone: imports nothing from suites/, harness/ or backends/. Reads the batch from --data (an .npz of NHWC
images, as benchmarks/overhead.py writes the suite's own timed rows). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

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


def images(x_nhwc: np.ndarray, layout: str, device: torch.device) -> torch.Tensor:
    """view: the NHWC array permuted to NCHW shape, as the suite puts it; with one channel its strides are
    channels_last ones (784, 1, 28, 1) and torch runs the convs channels_last. nchw: copied into a fresh NCHW tensor,
    strides (784, 784, 28, 1), as torchvision's ToTensor + default_collate give: torch runs the convs NCHW."""
    x = torch.from_numpy(x_nhwc).to(device).permute(0, 3, 1, 2)
    return torch.empty(x.shape, device=device).copy_(x) if layout == "nchw" else x


def rates(fn: Callable[[], torch.Tensor], sync: Callable[[], None], trials: int, steps: int, batch: int) -> list[float]:
    for _ in range(WARMUP):
        fn()
    sync()
    out = []
    for _ in range(trials):
        start = time.perf_counter()
        for _ in range(steps):
            fn()
        sync()
        out.append(steps * batch / (time.perf_counter() - start))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True, help=".npz with x_train, y_train, x_test (NHWC float32)")
    parser.add_argument("--trials", type=int, default=7)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--layout", choices=("view", "nchw"), default="view",
                        help="view: NHWC data permuted (as the suite puts it); nchw: a fresh NCHW tensor")
    args = parser.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    data = np.load(args.data)
    x, x_test = images(data["x_train"], args.layout, device), images(data["x_test"], args.layout, device)
    y = torch.from_numpy(data["y_train"].astype(np.int64)).to(device)
    batch = len(x)
    torch.manual_seed(0)
    model = make_model().to(device)
    optimizer, impl = make_optimizer(list(model.parameters()))
    loss_fn = nn.CrossEntropyLoss()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def step() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    model.train()
    train = rates(step, sync, args.trials, args.steps, batch)
    model.eval()
    with torch.inference_mode():
        infer = rates(lambda: model(x_test), sync, args.trials, args.steps * 3, batch)
    print(json.dumps({"framework": "torch", "train": {"samples_per_s": train, "median": statistics.median(train)},
                      "infer": {"samples_per_s": infer, "median": statistics.median(infer)},
                      "batch_size": batch, "steps": args.steps, "trials": args.trials, "optimizer_impl": impl,
                      "layout": args.layout, "input_strides": list(x.stride()),
                      "threads": torch.get_num_threads(), "version": torch.__version__}))


if __name__ == "__main__":
    main()
