"""The two-stage search index on its own: fast-scan candidates re-ranked exactly (R9: search
over protected templates; erasure really removes a vector from both stages)."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from trustface.gallery.index import VectorIndex


@pytest.fixture(scope="module")
def vectors():
    # anisotropic Gaussian cloud, like descriptors (the bench uses one fitted to LFW)
    rng = np.random.default_rng(3)
    scale = np.linspace(0.02, 0.12, 128)
    return (rng.standard_normal((20_000, 128)) * scale).astype(np.float32)


def exact_top1(vectors, queries):
    flat = faiss.IndexFlatL2(128)
    flat.add(vectors)
    d2, i = flat.search(queries, 1)
    return np.sqrt(d2[:, 0]), i[:, 0]


def test_approximate_search_agrees_with_exact_and_returns_exact_distances(vectors):
    ids = np.arange(100, 100 + len(vectors), dtype=np.int64)
    index = VectorIndex.build(ids, vectors, [f"s{i}" for i in range(len(vectors))], exact_limit=1000)
    assert index.approximate and len(index) == len(vectors)
    rng = np.random.default_rng(4)
    queries = vectors[rng.choice(len(vectors), 300, replace=False)] + \
        rng.normal(0, 0.01, (300, 128)).astype(np.float32)
    want_d, want_i = exact_top1(vectors, queries)
    got = [index.search(q, 5) for q in queries]
    got_ids = np.array([i[0] for _, i in got])
    assert np.mean(got_ids == ids[want_i]) >= 0.99
    agree = got_ids == ids[want_i]
    # the distances returned are the exact ones, not quantised estimates
    np.testing.assert_allclose(np.array([d[0] for d, _ in got])[agree], want_d[agree], rtol=1e-4, atol=1e-5)
    for d, i in got:                          # k results, nearest first
        assert len(i) == 5 and np.all(np.diff(d) >= 0)
    assert index.subject_of(got_ids[:3]) == [f"s{i - 100}" for i in got_ids[:3]]


def test_remove_really_drops_the_vector_from_both_stages(vectors):
    ids = np.arange(1, len(vectors) + 1, dtype=np.int64)
    index = VectorIndex.build(ids, vectors, [f"s{i}" for i in range(len(vectors))], exact_limit=1000)
    target = 1234
    _, found = index.search(vectors[target], 1)
    assert found[0] == ids[target]
    assert index.remove([ids[target]]) == 1
    assert len(index) == len(vectors) - 1 and index._coarse.ntotal == len(vectors) - 1
    d, found = index.search(vectors[target], 3)
    assert ids[target] not in found and d[0] > 0
    assert index.subject_of(np.array([ids[target]])) == [None]
    # re-adding (e.g. a renewed template) brings it back under the same id
    index.add([ids[target]], vectors[target:target + 1], [f"s{target}"])
    d, found = index.search(vectors[target], 1)
    assert found[0] == ids[target] and d[0] == pytest.approx(0.0, abs=1e-5)


def test_small_galleries_are_searched_exactly(vectors):
    few = vectors[:500]
    index = VectorIndex.build(np.arange(500), few, [f"s{i}" for i in range(500)])
    assert not index.approximate
    want_d, want_i = exact_top1(few, few[:50] + 0.001)
    got = [index.search(q + 0.001, 1) for q in few[:50]]
    assert [i[0] for _, i in got] == list(want_i)
