import numpy as np
import pytest

from labelspace.methods.conse import ConSE


def test_conse_matches_the_paper_formula_loop():
    rng = np.random.default_rng(0)
    seen = rng.normal(size=(20, 8)).astype(np.float32)
    candidates = rng.normal(size=(5, 8)).astype(np.float32)
    probs = rng.dirichlet(np.ones(20), size=6).astype(np.float32)
    conse = ConSE([f"s{i}" for i in range(20)], seen, top_t=3)
    got = conse.scores(probs, candidates)
    unit = seen / np.linalg.norm(seen, axis=1, keepdims=True)
    for n in range(6):
        top = np.argsort(-probs[n])[:3]
        f = sum(probs[n, t] * unit[t] for t in top) / probs[n, top].sum()
        for c in range(5):
            want = f @ candidates[c] / np.linalg.norm(f) / np.linalg.norm(candidates[c])
            assert got[n, c] == pytest.approx(want, abs=1e-5)


def test_conse_with_one_hot_probabilities_recovers_the_seen_label():
    seen = np.eye(4, dtype=np.float32)
    conse = ConSE(list("abcd"), seen, top_t=2)
    scores = conse.scores(np.eye(4, dtype=np.float32), seen)
    assert (scores.argmax(1) == np.arange(4)).all()


def test_seen_labels_without_vectors_are_ignored():
    seen = np.array([[1, 0], [0, 0], [0, 1]], dtype=np.float32)  # label 1 has no vector
    conse = ConSE(list("abc"), seen, top_t=1)
    emb = conse.embed(np.array([[0.2, 0.7, 0.1]], dtype=np.float32))
    np.testing.assert_allclose(emb, [[1, 0]])
