"""A CIFAR-style ResNet (He et al. 2016, §4.2, at one block per stage) on MNIST padded to 32×32: a 3×3 stem with
BatchNorm, three residual stages of widths 16, 32, 64 (stride 2 with a projection shortcut into the last two), global
average pooling and dense 10.

Training it is chaotic (docs/PARITY_CONVENTIONS.md, "What parity shows on resnet_small"): one backend against itself
from weights perturbed by one float32 rounding differs after a few steps about as much as the three backends differ.
So parity judges it on what one step decides (outputs, training-mode outputs, the first step's loss, gradient and
running statistics against the float64 reference) and shows the multi-step figures unjudged
(harness/parity_chaos.py), proving the chaos on every run.
"""

from suites.layers import (
    Activation,
    BatchNorm,
    Conv2D,
    Dense,
    GlobalAveragePool2D,
    Layer,
    Residual,
    ZeroPad2D,
)
from suites.spec import Budget, ModelSpec, OptimizerSpec, QualityTarget, TaskSpec, Workload

ORDER = 87  # position in listings and suites: after vit_tiny


def block(width: int, stride: int = 1) -> tuple[Layer, ...]:
    """One basic block: conv 3×3 → BN → relu → conv 3×3 → BN, added to the shortcut (a 1×1 projection with BatchNorm
    when it downsamples), then relu. A stride-2 conv pads 1 first (torch's padding=1; 'same' is stride 1 only)."""
    if stride == 1:
        first: tuple[Layer, ...] = (Conv2D(width, 3, padding="same", use_bias=False),)
    else:
        first = (ZeroPad2D(1), Conv2D(width, 3, stride=stride, use_bias=False))
    body = (*first, BatchNorm(), Activation("relu"), Conv2D(width, 3, padding="same", use_bias=False), BatchNorm())
    return (Residual(body, projection=stride != 1, stride=stride), Activation("relu"))


def resnet(name: str, input_shape: tuple[int, int, int]) -> ModelSpec:
    """The network on (H, W, C) images: MNIST's 28×28 padded to 32×32 first, CIFAR's 32×32 as they are."""
    pad: tuple[Layer, ...] = (ZeroPad2D((32 - input_shape[0]) // 2),) if input_shape[0] < 32 else ()
    return ModelSpec(name, input_shape, (
        *pad, Conv2D(16, 3, padding="same", use_bias=False), BatchNorm(), Activation("relu"),
        *block(16), *block(32, stride=2), *block(64, stride=2),
        GlobalAveragePool2D(), Dense(10)))


def workloads() -> list[Workload]:
    return [mnist(), cifar10()]


def mnist() -> Workload:
    model = resnet("resnet_small", (28, 28, 1))
    task = TaskSpec("mnist5k", "cross_entropy", OptimizerSpec("adam", 1e-3), batch_size=128, epochs=4,
                    target=QualityTarget("accuracy", 0.9))  # validation ≥ 0.90 from epoch 3 in all three
    return Workload("resnet_small", "pad to 32×32 → conv16 + BN + relu → 3 residual blocks (16, 32/2, 64/2; "
                    "projection shortcuts) → global average pool → dense 10, Adam",
                    "ResNet v1 for CIFAR (He et al. 2016), one block per stage", model, task,
                    smoke=Budget(1, train_limit=512, eval_limit=256), standard=Budget(4),
                    notes="Convolutions without bias before each BatchNorm (momentum 0.1, eps 1e-5, the neutral "
                          "convention); option B shortcuts (1×1 conv + BatchNorm) where the width doubles; "
                          "Glorot-uniform initialisation like every workload here, not He's.",
                    tags=("image", "cnn", "residual"),
                    chaotic_training="torch against itself from parity weights scaled by 1 + 1e-7·N(0, 1): the median "
                                     "weight update after 10 SGD steps differs by 2e-2 to 9e-2 (three seeds; "
                                     "tolerance 1e-3), the 10 Adam steps' by 4e-3 to 9e-3; measured 2026-12-02 on an "
                                     "AMD EPYC (on an Intel Xeon torch's SGD run stays put and its Adam run moves "
                                     "9.5e-3; docs/PARITY_CONVENTIONS.md)")


def cifar10() -> Workload:
    """The same network on CIFAR-10, its own dataset (needs the network once, then cached; not in the offline suites
    and so not in `run_bench.py parity` by default)."""
    task = TaskSpec("cifar10", "cross_entropy", OptimizerSpec("adam", 1e-3), batch_size=128, epochs=10,
                    test_fraction=1 / 6)
    return Workload("resnet_small_cifar10", "resnet_small on CIFAR-10 (download): conv16 + BN + relu → 3 residual "
                    "blocks (16, 32/2, 64/2) → global average pool → dense 10, Adam",
                    "ResNet v1 for CIFAR (He et al. 2016), one block per stage", resnet("resnet_small_cifar10",
                                                                                       (32, 32, 3)), task,
                    smoke=Budget(1, train_limit=1024, eval_limit=512), standard=Budget(10),
                    notes="As resnet_small, on 32×32×3 CIFAR-10 images (no padding). Its parity and accuracy are not "
                          "measured here: this machine reaches package registries only.",
                    tags=("image", "cnn", "residual"), online=True)
