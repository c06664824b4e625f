"""The scaling sweep: gpt_lm's architecture (suites/models/gpt_lm.py) at GPT-2-like shapes from ~1 M to ~1.5 B
parameters, one workload per size, named by its trainable parameter count (byte vocabulary: the embedding and head
are small, so GPT-2 small's shape has 86 M here, not 124 M). The sizes keep gpt_lm's untied Dense(256) head, as the
sweep in BENCHMARKS.md §14 was measured (2026-12-02): tying removes 257·d parameters, 0.1 % or less from 40 M up.

Every size trains a few steps of batch 8 × 128 bytes and is timed under the suite's `scaling` trial plan; the sizes
stay out of "all" (sweep = "scaling") and run in suites/scaling.toml.
"""

from suites.models.gpt_lm import gpt_model, lm_task
from suites.params import param_count
from suites.spec import Budget, Workload

ORDER = 95  # after gpt_lm
SHAPES: tuple[tuple[int, int, int], ...] = (
    (4, 128, 4),     # ~0.8 M
    (4, 256, 4),     # ~3.3 M
    (6, 384, 6),     # ~11 M
    (8, 640, 10),    # ~40 M
    (12, 768, 12),   # GPT-2 small's shape, ~86 M
    (24, 1024, 16),  # GPT-2 medium's, ~303 M
    (36, 1280, 20),  # GPT-2 large's, ~709 M
    (48, 1600, 25),  # GPT-2 XL's, ~1.48 B
)
"""(layers, d_model, heads) per size, smallest first: GPT-2's head width 64 from 40 M on."""
BATCH = 8
TIED_HEAD = False
"""The sweep's head: untied, as measured (module docstring)."""


def size_name(params: int) -> str:
    """gpt_lm_<size>: '0p8m', '3m', '86m', '1p5b'."""
    if params >= 1e9:
        return f"gpt_lm_{params / 1e9:.1f}b".replace(".", "p")
    if params < 1e6:
        return f"gpt_lm_{params / 1e6:.1f}m".replace(".", "p")
    return f"gpt_lm_{round(params / 1e6)}m"


def workloads() -> list[Workload]:
    found = []
    for layers, d_model, heads in SHAPES:
        params = param_count(gpt_model("size", layers, d_model, heads, tied=TIED_HEAD))
        name = size_name(params)
        found.append(Workload(
            name, f"gpt_lm at {layers} layers × d {d_model} × {heads} heads ({params / 1e6:,.1f} M parameters)",
            "issue 9 (the scaling sweep; GPT-2 shapes, Radford et al. 2019)",
            gpt_model(name, layers, d_model, heads, tied=TIED_HEAD),
            lm_task(3e-4, batch_size=BATCH, epochs=1), smoke=Budget(1, train_limit=40, eval_limit=16),
            standard=Budget(1, train_limit=400, eval_limit=64),
            notes="One size of the scaling sweep: a few training steps, then tokens/s, MFU, peak memory and compile "
                  "time; its quality after so few steps is not a result.",
            tags=("text", "transformer", "language-model", "scaling"), sweep="scaling"))
    return found
