"""Seed 004: TF-IDF with 1000 features (scikit-learn) → a dense classifier."""

from suites.data.text import TFIDF_FEATURES
from suites.layers import Dense, Dropout
from suites.spec import Budget, ModelSpec, OptimizerSpec, TaskSpec, Workload

ORDER = 70  # position in listings and suites


def workload() -> Workload:
    model = ModelSpec("tfidf_mlp", (TFIDF_FEATURES,), (Dense(64, "relu"), Dropout(0.2), Dense(2)))
    task = TaskSpec("rotten_tomatoes_tfidf", "cross_entropy", OptimizerSpec("adam", 1e-3), batch_size=64, epochs=5)
    return Workload("tfidf_mlp", "TF-IDF (1000 features) → dense 64 relu → dropout 0.2 → dense 2",
                    "seed 004 (TfidfVectorizer(max_features=1000))", model, task,
                    smoke=Budget(1, train_limit=1024, eval_limit=512), standard=Budget(5),
                    tags=("text", "mlp"))
