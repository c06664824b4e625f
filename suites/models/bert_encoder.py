"""A BERT-style text classifier that masks padding: token embedding + learned positions → 2 pre-norm encoder layers
(exact GELU) whose attention ignores padded keys → final LayerNorm → the mean over the tokens that are not padding →
dense 2 (Devlin et al. 2019's attention mask, at toy width; suites/padding.py defines the mask)."""

from suites.data.text import TEXT_LEN, TEXT_VOCAB
from suites.layers import Dense, Embedding, GlobalAveragePool1D, LayerNorm, LearnedPositions, TransformerEncoder
from suites.spec import Budget, ModelSpec, OptimizerSpec, TaskSpec, Workload

ORDER = 55  # position in listings and suites: after text_transformer, its unmasked counterpart
D_MODEL = 64
LAYER_NORM_EPS = 1e-12
"""BERT's LayerNorm epsilon."""


def workload() -> Workload:
    encoder = TransformerEncoder(D_MODEL, num_heads=4, ff_dim=4 * D_MODEL, dropout=0.1, activation="gelu",
                                 norm_first=True, layer_norm_eps=LAYER_NORM_EPS, mask_padding=True)
    model = ModelSpec("bert_encoder", (TEXT_LEN,), (
        Embedding(TEXT_VOCAB, D_MODEL), LearnedPositions(TEXT_LEN), encoder, encoder, LayerNorm(LAYER_NORM_EPS),
        GlobalAveragePool1D(mask_padding=True), Dense(2)), input_dtype="int32")
    task = TaskSpec("rotten_tomatoes", "cross_entropy", OptimizerSpec("adam", 5e-4), batch_size=64, epochs=4)
    return Workload("bert_encoder", "embedding + learned positions → 2 pre-norm encoder layers masking padding → "
                    "LayerNorm → masked mean → dense 2", "issue 9 (BERT, Devlin et al. 2019; padding mask)", model,
                    task, smoke=Budget(1, train_limit=512, eval_limit=256), standard=Budget(4),
                    notes="Padding (id 0) gets no attention weight as a key and is left out of the mean; BERT's exact "
                          "GELU, eps 1e-12, feed-forward 4·d, dropout 0.1 and learned positions. Pre-norm blocks and a "
                          "final LayerNorm (as ViT and GPT-2) where BERT is post-norm. Same data, optimizer and "
                          "budgets as text_transformer, which attends to padding.",
                    tags=("text", "transformer"))
