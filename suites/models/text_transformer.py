"""Seed 001: the Transformer classifier — embedding × sqrt(d) + sinusoidal positions → 2 post-norm encoder layers."""

from suites.data.text import TEXT_LEN, TEXT_VOCAB
from suites.layers import Dense, Embedding, GlobalAveragePool1D, PositionalEncoding, TransformerEncoder
from suites.spec import Budget, ModelSpec, OptimizerSpec, TaskSpec, Workload

ORDER = 50  # position in listings and suites
D_MODEL = 64


def workload() -> Workload:
    encoder = TransformerEncoder(D_MODEL, num_heads=4, ff_dim=128, dropout=0.1, activation="relu",
                                 norm_first=False, layer_norm_eps=1e-5)
    model = ModelSpec("text_transformer", (TEXT_LEN,), (
        Embedding(TEXT_VOCAB, D_MODEL), PositionalEncoding(TEXT_LEN, scale_input=True),
        encoder, encoder, GlobalAveragePool1D(), Dense(2)), input_dtype="int32")
    task = TaskSpec("rotten_tomatoes", "cross_entropy", OptimizerSpec("adam", 5e-4), batch_size=64, epochs=4)
    return Workload("text_transformer", "embedding + positions → 2 post-norm encoder layers → mean → dense 2",
                    "seed 001 (PyTorch Transformer)", model, task,
                    smoke=Budget(1, train_limit=512, eval_limit=256), standard=Budget(4),
                    notes="Post-norm, relu, dropout 0.1 and eps 1e-5, as torch's TransformerEncoderLayer; no padding "
                          "mask (pad id 0 is a learned token), mean pooling over all positions.",
                    tags=("text", "transformer"))
