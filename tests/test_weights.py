"""Every learned weights file is an .npz beside the module that loads it, with the feature names it was fitted
for; training/ reproduces each. The values moved out of the code unchanged (the literals below are the
constants the modules carried before)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from chendian.summarize.qa import extract
from chendian.summarize.text import dedup
from chendian.summarize.threads import linker

REPO = Path(__file__).resolve().parent.parent


def test_dedup_weights_are_the_former_constants():
    assert dedup.WEIGHTS_FILE.name == "dedup_weights.npz" and dedup.WEIGHTS_FILE.parent.name == "text"
    np.testing.assert_array_equal(dedup.WEIGHTS, [3.324, 1.774, 1.065, -1.306, 2.153, -0.569, -0.103, -0.565,
                                                  -0.504, -0.358])
    assert dedup.INTERCEPT == -1.583
    np.testing.assert_array_equal(dedup.CONTEXT_WEIGHTS, [1.546, 2.119, -0.146, -2.552, 1.586, -0.315, -0.091,
                                                          -0.52, -0.551, -0.277, -0.088, 2.673, 0.104, -0.06,
                                                          -2.145, 1.201, 2.495])
    assert dedup.CONTEXT_INTERCEPT == -1.933
    with np.load(dedup.WEIGHTS_FILE) as f:
        assert tuple(f["features"]) == dedup.FEATURES and tuple(f["context_features"]) == dedup.CONTEXT_FEATURES
    assert len(dedup.WEIGHTS) == len(dedup.FEATURES)
    assert len(dedup.CONTEXT_WEIGHTS) == len(dedup.FEATURES) + len(dedup.CONTEXT_FEATURES)


def test_answer_link_weights_are_the_former_dict():
    assert extract.LINK_WEIGHTS == {
        "bias": -3.06, "mentions_asker": 0.96, "mentions_other": -0.35, "log_distance": -0.85,
        "log_others_between": -0.45, "log_minutes": -0.12, "first_of_sender": 0.06, "first_other": 0.07,
        "asker_newer_question": -0.32, "other_newer_question": 0.07, "overlap": 0.89, "answerish": 0.71,
        "filler": -0.48, "candidate_question": -1.51, "log_length": 0.24, "long": -0.58, "asker_ack_after": 1.25,
        "yesno_affirm": 0.69, "sender_spoke_between": -0.08, "after_asker": 0.15, "rhetorical_or_chitchat": -0.40,
        "laugh": -0.21, "question_score": 0.28, "same_thread": 0.12, "predicted_parent": 0.51,
        "explicit_reply": 3.5, "quotes_other": -1.5, "system": -5.0,
    }
    # the column order training/qa_fit.py fits in
    assert extract.LINK_FEATURES[:2] == ["mentions_asker", "mentions_other"] and extract.LINK_FEATURES[-1] == "system"


def test_thread_linker_weights_are_untouched():
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:16]
               for p in (linker.WEIGHTS_FILE, linker.DENSE_WEIGHTS_FILE, linker.CONVERSATION_WEIGHTS_FILE)}
    assert digests == EXPECTED_LINKER_DIGESTS


def test_every_weights_file_is_an_npz_with_a_training_script():
    shipped = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "chendian").rglob("*.npz"))
    assert shipped == ["chendian/summarize/qa/answer_link_weights.npz", "chendian/summarize/qa/worthy_weights.npz",
                       "chendian/summarize/text/dedup_weights.npz",
                       "chendian/summarize/threads/thread_linker.npz",
                       "chendian/summarize/threads/thread_linker_conversations.npz",
                       "chendian/summarize/threads/thread_linker_dense.npz"]
    training = " ".join(p.read_text(encoding="utf-8") for p in (REPO / "training").glob("*.py"))
    for path in shipped:
        assert path in training, f"no script in training/ says how to reproduce {path}"


# sha256 (first 16 hex digits) of the shipped linker weights: moving or re-saving them must not change a byte
EXPECTED_LINKER_DIGESTS = {"thread_linker.npz": "d85dbf50d12d14bd", "thread_linker_dense.npz": "b8989a1d44aa8eb6",
                           "thread_linker_conversations.npz": "a0f0e2e17e2d6c43"}
