"""Seed 004: the Keras text CNN — embedding → conv1d 128 k5 → max-pool over time → dense → classes, with P/R/F1."""

from suites.data.text import TEXT_LEN, TEXT_VOCAB
from suites.layers import Conv1D, Dense, Dropout, Embedding, GlobalMaxPool1D
from suites.spec import Budget, ModelSpec, OptimizerSpec, TaskSpec, Workload

ORDER = 60  # position in listings and suites


def workload() -> Workload:
    model = ModelSpec("text_cnn", (TEXT_LEN,), (
        Embedding(TEXT_VOCAB, 64), Conv1D(128, 5, activation="relu"), GlobalMaxPool1D(),
        Dense(64, "relu"), Dropout(0.5), Dense(2)), input_dtype="int32")
    task = TaskSpec("rotten_tomatoes", "cross_entropy", OptimizerSpec("adam", 1e-3), batch_size=64, epochs=4)
    return Workload("text_cnn", "embedding 64 → conv1d 128 k5 relu → global max-pool → dense 64 → dense 2",
                    "seed 004 (Keras text CNN)", model, task,
                    smoke=Budget(1, train_limit=512, eval_limit=256), standard=Budget(4),
                    notes="The seed's MaxPooling1D(5) feeds a Dense without flattening; pooling over time is meant.",
                    tags=("text", "cnn"))
