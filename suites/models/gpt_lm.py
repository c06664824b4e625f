"""GPT-style byte-level language model: byte embedding + learned positions → pre-norm causal decoder blocks (GELU
tanh) → final LayerNorm → logits over the 256 byte values against the embedding table (GPT-2's tied head, no bias;
Radford et al. 2019, GPT-2's block at toy width).

`gpt_model` builds the same architecture at any GPT-2-like shape; suites/models/gpt_lm_scaling.py uses it for the
scaling sweep.
"""

from suites.data.text import BYTE_VOCAB, LM_CONTEXT
from suites.layers import Dense, Embedding, LayerNorm, LearnedPositions, TiedHead, TransformerEncoder
from suites.spec import Budget, ModelSpec, OptimizerSpec, QualityTarget, TaskSpec, Workload

ORDER = 90  # position in listings and suites: after vit_tiny
LM_METRICS = ("accuracy", "perplexity")
"""Next-byte accuracy and perplexity (exp of the mean cross-entropy per byte); the loss is recorded as well."""


def gpt_model(name: str, num_layers: int, d_model: int, num_heads: int, context: int = LM_CONTEXT,
              tied: bool = True) -> ModelSpec:
    """GPT-2's decoder at a given shape: pre-norm blocks, causal attention, feed-forward 4·d, GELU (tanh form),
    LayerNorm eps 1e-5, no dropout (as nanoGPT and most current pre-training); the byte head tied to the embedding
    table without bias as GPT-2's lm_head, or (tied=False) a separate Dense(256) with bias."""
    block = TransformerEncoder(d_model, num_heads=num_heads, ff_dim=4 * d_model, dropout=0.0,
                               activation="gelu_tanh", norm_first=True, layer_norm_eps=1e-5, causal=True)
    return ModelSpec(name, (context,), (
        Embedding(BYTE_VOCAB, d_model), LearnedPositions(context), *([block] * num_layers),
        LayerNorm(1e-5), TiedHead(BYTE_VOCAB) if tied else Dense(BYTE_VOCAB)), input_dtype="int32")


def lm_task(learning_rate: float, batch_size: int, epochs: int, target: QualityTarget | None = None) -> TaskSpec:
    """Next-byte prediction on the Rotten Tomatoes bytes (held-out reviews for the test split), Adam."""
    return TaskSpec("rotten_tomatoes_bytes", "cross_entropy", OptimizerSpec("adam", learning_rate),
                    batch_size=batch_size, epochs=epochs, metrics=LM_METRICS, target=target)


def workload() -> Workload:
    model = gpt_model("gpt_lm", num_layers=2, d_model=64, num_heads=4)
    task = lm_task(1e-3, batch_size=32, epochs=3, target=QualityTarget("accuracy", 0.37))  # validation 0.377 in
    # epoch 3 in all three (tied head, 2026-12-02; BENCHMARKS §2)
    return Workload("gpt_lm", "byte embedding + learned positions → 2 pre-norm causal blocks (GELU tanh) → LayerNorm "
                    "→ logits against the byte table (tied head; next byte)",
                    "issue 9 (GPT-2, Radford et al. 2019; byte-level)", model, task,
                    smoke=Budget(1, train_limit=512, eval_limit=128), standard=Budget(3),
                    notes="A byte-level language model (vocabulary 256, no tokenizer) trained on the Rotten Tomatoes "
                          "reviews; the test split is held-out reviews. Metrics per predicted byte: accuracy, loss, "
                          "perplexity; throughput in tokens/s = samples/s × 128.",
                    tags=("text", "transformer", "language-model"))
