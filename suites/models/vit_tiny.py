"""ViT-tiny on MNIST: 7×7 patches (a strided conv) → 16 tokens + class token + learned positions → 2 pre-norm encoder
layers (exact GELU) → final LayerNorm → the class token → dense 10 (Dosovitskiy et al. 2021, at toy width)."""

from suites.layers import ClassToken, Conv2D, Dense, LayerNorm, LearnedPositions, TakeToken, Tokens, TransformerEncoder
from suites.spec import Budget, ModelSpec, OptimizerSpec, QualityTarget, TaskSpec, Workload

ORDER = 85  # position in listings and suites: after the seeds
PATCH = 7
D_MODEL = 64
TOKENS = (28 // PATCH) ** 2 + 1  # 16 patches and the class token


def workload() -> Workload:
    encoder = TransformerEncoder(D_MODEL, num_heads=4, ff_dim=128, dropout=0.1, activation="gelu",
                                 norm_first=True, layer_norm_eps=1e-6)
    model = ModelSpec("vit_tiny", (28, 28, 1), (
        Conv2D(D_MODEL, PATCH, stride=PATCH), Tokens(), ClassToken(), LearnedPositions(TOKENS),
        encoder, encoder, LayerNorm(1e-6), TakeToken(0), Dense(10)))
    task = TaskSpec("mnist5k", "cross_entropy", OptimizerSpec("adam", 1e-3), batch_size=128, epochs=8,
                    target=QualityTarget("accuracy", 0.85))
    return Workload("vit_tiny", "7×7 patch embedding + class token + learned positions → 2 pre-norm encoder layers "
                    "→ LayerNorm → class token → dense 10", "issue 9 (ViT, Dosovitskiy et al. 2021)", model, task,
                    smoke=Budget(1, train_limit=1024, eval_limit=512), standard=Budget(8),
                    notes="Pre-norm, exact GELU, eps 1e-6 and N(0, 0.02) class token and positions, as ViT; the "
                          "patch embedding is a Conv2D with kernel = stride = 7.",
                    tags=("image", "transformer"))
