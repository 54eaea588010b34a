"""dedup's context searches a question's nearest questions only when a pair needs them (a night: its new
questions and their candidates). A row must then be the same bits however it was searched: alone, with a
night's rows or with the whole set, or the night would merge differently from a full run."""

from __future__ import annotations

import numpy as np
import pytest

from chendian.summarize.qa import faq
from chendian.summarize.text import dedup
from test_faq_incremental import bag_of_characters, questions, records


def float16_vectors(n: int, d: int, seed: int, copies: int = 1) -> np.ndarray:
    """Unit vectors rounded to float16, as the faq stage reads them back from the embedding cache; `copies`
    identical vectors each (different questions can embed alike): ties all over each row."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n // copies, d)) + 3 * rng.normal(size=(1, d))  # crowded, like real questions
    v = np.repeat(base, copies, axis=0)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v.astype(np.float16).astype(np.float32)


def brute_force(v: np.ndarray, i: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row i's k nearest by the exact dot product (ties to the lower position), itself left out."""
    exact = v.astype(np.float64) @ v[i].astype(np.float64)
    ids = np.array([j for j in np.lexsort((np.arange(len(v)), -exact)) if j != i][:k])
    return exact[ids].astype(np.float32), ids


@pytest.mark.parametrize("copies", [1, 12])
def test_a_row_is_the_same_bits_searched_alone_in_a_batch_or_with_everything(copies):
    n = 1200
    v = float16_vectors(n, 512, seed=copies, copies=copies)  # 512 like USE: float32 sums differ by batch
    texts = [f"问题{i}" for i in range(n)]
    whole = dedup.QuestionContext(texts, v)
    all_sims, all_ids = whole.neighbours(np.arange(n))
    rows = np.random.default_rng(5).choice(n, 40, replace=False)
    alone = dedup.QuestionContext(texts, v)
    for i in rows[:25]:  # fewer than 20 rows per faiss call takes its non-BLAS path: other float32 sums
        s, ids = alone.neighbours([i])
        assert np.array_equal(s[0].view(np.uint32), all_sims[i].view(np.uint32)) and np.array_equal(ids[0], all_ids[i])
    s, ids = alone.neighbours(rows)
    assert np.array_equal(s.view(np.uint32), all_sims[rows].view(np.uint32)) and np.array_equal(ids, all_ids[rows])
    for i in rows[:10]:
        want_sims, want_ids = brute_force(v, int(i), whole.k - 1)
        assert np.array_equal(all_sims[i], want_sims) and np.array_equal(all_ids[i], want_ids)
    # the features of pairs, from a context that searched only their rows, equal the whole set's
    ia, ib = rows[:20], rows[20:]
    cos = np.einsum("ij,ij->i", v[ia], v[ib])
    fresh = dedup.QuestionContext(texts, v)
    assert np.array_equal(fresh.features(ia, ib, cos), whole.features(ia, ib, cos))
    assert len(fresh._sims) == len(set(rows.tolist())) < n


def test_the_float32_search_alone_differs_by_batch_so_the_exact_rescoring_is_needed():
    # what the test above guards against: faiss's float32 scores of one row change with its batch
    import faiss

    v = float16_vectors(1200, 512, seed=1)
    index = faiss.IndexFlatIP(v.shape[1])
    index.add(v)
    together, _ = index.search(v[:600], 50)
    alone = np.concatenate([index.search(v[i:i + 1], 50)[0] for i in range(600)])
    assert not np.array_equal(together, alone)


def float16_bag(texts):
    """bag_of_characters spread over 512 dimensions (a fixed projection) and rounded to float16, like the
    stage's vectors: float32 searches of these differ by batch, so a night that searched differently shows."""
    bag = bag_of_characters(texts)
    v = bag @ np.random.default_rng(0).normal(size=(bag.shape[1], 512))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float16).astype(np.float32)


def test_a_night_searching_its_own_rows_builds_what_searching_every_row_builds(monkeypatch):
    days = questions(700, 1)
    assert len({faq.clean_question(q.question) for q in days}) >= dedup.MIN_CONTEXT
    first = faq.build_entries(days, float16_bag)
    previous = {q.id: eid for eid, e in first.items() for q in e.qas}
    night = days + questions(60, 2)
    searched = []
    search = dedup.QuestionContext._search
    monkeypatch.setattr(dedup.QuestionContext, "_search", lambda self, todo: (searched.append(len(todo)),
                                                                               search(self, todo))[1])
    lazy = faq.build_entries(night, float16_bag, previous)
    distinct = len({faq.clean_question(q.question) for q in night})
    # the night's 60 questions and their 10 candidates each, not every question
    assert 0 < sum(searched) <= 60 * 11 and sum(searched) < distinct
    # every row searched up front, one faiss call each (its non-BLAS path), as a cold run might
    real_init = dedup.QuestionContext.__init__

    def eager(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        for i in range(self.n):
            search(self, [i])

    monkeypatch.setattr(dedup.QuestionContext, "__init__", eager)
    assert records(faq.build_entries(night, float16_bag, previous)) == records(lazy)


def scipy_features(ctx: dedup.QuestionContext, ia: np.ndarray, ib: np.ndarray, cos: np.ndarray) -> np.ndarray:
    """The context features as scipy.sparse computed them before dedup worked on the CSR arrays itself."""
    import scipy.sparse as sp

    rows = np.array(list(dict.fromkeys([*ia.tolist(), *ib.tolist()])), dtype=np.int64)
    at = {int(r): j for j, r in enumerate(rows)}
    pa = np.array([at[int(i)] for i in ia], dtype=np.int64)
    pb = np.array([at[int(i)] for i in ib], dtype=np.int64)
    nbr_sims, ids = ctx.neighbours(rows)
    hub = nbr_sims[:, :dedup._CSLS_K].mean(1)
    m, pk = len(rows), min(dedup._PROFILE_K, ids.shape[1])
    prof = sp.csr_matrix((np.column_stack([np.ones(m, np.float32), nbr_sims[:, :pk]]).ravel(),
                          (np.repeat(np.arange(m), pk + 1), np.column_stack([rows, ids[:, :pk]]).ravel())),
                         shape=(m, ctx.n))
    norms = np.sqrt(np.asarray(prof.multiply(prof).sum(1)).ravel())
    profile = sp.diags(1 / np.maximum(norms, 1e-9)) @ prof
    rank = lambda p, c: (nbr_sims[p] > c[:, None]).sum(1)  # noqa: E731
    rowdot = lambda m, a, b: np.asarray(m[a].multiply(m[b]).sum(1)).ravel()  # noqa: E731
    jac = np.array([len(ctx.char_sets[x] & ctx.char_sets[y]) / max(1, len(ctx.char_sets[x] | ctx.char_sets[y]))
                    for x, y in zip(ia, ib)])
    return np.column_stack([-(np.log1p(rank(pa, cos)) + np.log1p(rank(pb, cos))) / 2,
                            rowdot(ctx.char_tfidf, ia, ib), np.einsum("ij,ij->i", ctx.lsa[ia], ctx.lsa[ib]),
                            2 * cos - hub[pa] - hub[pb], jac, rowdot(ctx.word_tfidf, ia, ib), rowdot(profile, pa, pb)])


def test_the_context_features_on_csr_arrays_are_scipys_bits():
    # the faq stage's pairs: each question with its 10 nearest (long, overlapping char n-gram rows, 100-column
    # profiles: sums of 8+ terms, where numpy's pairwise summation groups by count), ten at a time as it scores them
    texts = list(dict.fromkeys(faq.clean_question(q.question) + q.answers[0].text if q.answers else
                               faq.clean_question(q.question) for q in questions(2500, 7)))
    assert len(texts) >= dedup.MIN_CONTEXT
    v = float16_bag(texts)
    ctx = dedup.QuestionContext(texts, v)
    rng = np.random.default_rng(3)
    _, ids = ctx.neighbours(np.arange(ctx.n))  # every row at once (a search per ten pairs is slow here)
    some = rng.choice(ctx.n, 400, replace=False)
    ids = ids[some]
    ia, ib = np.repeat(some, 10), ids[:, :10].ravel()
    ia, ib = np.concatenate([ia, rng.integers(0, ctx.n, 500)]), np.concatenate([ib, rng.integers(0, ctx.n, 500)])
    cos = np.einsum("ij,ij->i", v[ia], v[ib])
    new = np.concatenate([ctx.features(ia[s:s + 10], ib[s:s + 10], cos[s:s + 10]) for s in range(0, len(ia), 10)])
    old = np.concatenate([scipy_features(ctx, ia[s:s + 10], ib[s:s + 10], cos[s:s + 10])
                          for s in range(0, len(ia), 10)])
    assert np.array_equal(new, old)
    assert (new[:, [1, 5, 6]] > 0).mean(0).min() > 0.5  # the sparse dot products mostly overlap: sums are tested
    # and so are the scores and the merge decisions
    base = np.zeros((len(ia), len(dedup.FEATURES)))
    assert np.array_equal(dedup.score_features(np.column_stack([base, new])),
                          dedup.score_features(np.column_stack([base, old])))
    # one call of many pairs (a whole block) sums each pair as one of ten does
    assert np.array_equal(ctx.features(ia, ib, cos), new)
