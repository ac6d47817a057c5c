"""Reference numbers for clipscope's UMAP, PCA and trustworthiness (Sources/Core/Experiments/Projection.swift).

Makes synthetic clustered data (fixed numpy seed), embeds it with umap-learn and scores
the embedding with sklearn.manifold.trustworthiness; also scores a fixed 2-D view of the
data (its first two coordinates), so the Swift trustworthiness can be checked exactly, and
times umap-learn on 2,000 x 512 points for the speed comparison in docs/gap.md. Run once,
in tools/reference/.venv-torch (with umap-learn and scikit-learn installed):

    .venv-torch/bin/python make_umap_fixture.py [OUT]

OUT defaults to Tests/ExperimentsTests/Fixtures/umap-fixture.json.
"""

import importlib.metadata
import json
import os
import platform
import sys
import time

import numpy as np
import sklearn
import umap
from sklearn.manifold import trustworthiness

SEED = 20240611
CLUSTERS, POINTS, DIMENSIONS = 6, 300, 32


def clustered(points, dimensions, clusters, rng, spread=1.0, separation=6.0):
    """Gaussian clusters around random centres; labels say which cluster a point came from."""
    centres = rng.normal(0.0, separation, size=(clusters, dimensions))
    labels = np.arange(points) % clusters
    data = centres[labels] + rng.normal(0.0, spread, size=(points, dimensions))
    return data.astype(np.float32), labels


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, "../../Tests/ExperimentsTests/Fixtures/umap-fixture.json")
    rng = np.random.default_rng(SEED)
    data, labels = clustered(POINTS, DIMENSIONS, CLUSTERS, rng)
    # Rounded, so the Swift side reads exactly the values scored here.
    decimals = np.round(data.astype(np.float64), 4)
    data = decimals.astype(np.float32)

    reducer = umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=7)
    # Rounded as stored, so the Swift side scores exactly the embedding scored here.
    embedding = np.round(reducer.fit_transform(data), 5)
    # The fixed view: the first two coordinates.
    view = data[:, :2].copy()

    # umap-learn on 2,000 x 512 after a warm-up run (numba compiles on first use).
    big, _ = clustered(2000, 512, 10, np.random.default_rng(SEED + 1))
    umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=1).fit_transform(big[:300])
    times = []
    for run in range(3):
        start = time.perf_counter()
        umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=run).fit_transform(big)
        times.append(time.perf_counter() - start)

    fixture = {
        "about": "make_umap_fixture.py: 6 Gaussian clusters of 300 points in 32 dims; umap-learn n_neighbors 15, min_dist 0.1, random_state 7",
        "points": POINTS,
        "dimension": DIMENSIONS,
        "data": [round(float(v), 4) for v in decimals.ravel()],
        "labels": [int(v) for v in labels],
        "umap_embedding": [float(v) for v in embedding.ravel()],
        "umap_trustworthiness": {
            "5": float(trustworthiness(data, embedding, n_neighbors=5)),
            "15": float(trustworthiness(data, embedding, n_neighbors=15)),
        },
        "first_two_trustworthiness": {
            "5": float(trustworthiness(data, view, n_neighbors=5)),
            "15": float(trustworthiness(data, view, n_neighbors=15)),
        },
        "umap_seconds_2000x512": float(np.median(times)),
        "umap_seconds_2000x512_runs": [float(t) for t in times],
        "versions": {
            "umap-learn": importlib.metadata.version("umap-learn"),
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "machine": platform.machine(),
        },
    }
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {out}: umap trustworthiness {fixture['umap_trustworthiness']}, "
          f"first-two {fixture['first_two_trustworthiness']}, 2000x512 {times}")


if __name__ == "__main__":
    main()
