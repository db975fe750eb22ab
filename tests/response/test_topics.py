from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np

from adopt.response.topics import TOPICS, cobrowse_topics, topics_of_texts

GROUPS, PER_GROUP = 8, 12  # kinds of product, texts of each


def _browsing(seed: int = 0, users: int = 400, per_user: int = 40
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Behaviours of users who each care about one or two kinds (one in ten at random);
    returns (text code, user code, each text's kind)."""
    rng = np.random.default_rng(seed)
    kind = np.repeat(np.arange(GROUPS), PER_GROUP)
    texts, owners = [], []
    for u in range(users):
        likes = rng.choice(GROUPS, size=rng.integers(1, 3), replace=False)
        chosen = rng.choice(likes, per_user)
        picked = chosen * PER_GROUP + rng.integers(PER_GROUP, size=per_user)
        stray = rng.random(per_user) < 0.1
        picked[stray] = rng.integers(GROUPS * PER_GROUP, size=stray.sum())
        texts.append(picked)
        owners.append(np.full(per_user, u))
    return np.concatenate(texts), np.concatenate(owners), kind


def test_the_users_who_share_texts_make_a_topic():
    text, user, kind = _browsing()
    labels = cobrowse_topics(text, user, GROUPS * PER_GROUP, 400)
    assert (labels >= 0).all() and labels.max() < TOPICS
    # each topic holds one kind's texts (more topics than kinds: a kind may take several)
    for topic in np.unique(labels):
        kinds = kind[labels == topic]
        assert (kinds == np.bincount(kinds).argmax()).mean() >= 0.9
    # and the same inputs give the same topics
    np.testing.assert_array_equal(labels, cobrowse_topics(text, user, GROUPS * PER_GROUP, 400))


def test_a_text_no_one_browsed_has_no_topic_and_empty_logs_have_none():
    text, user, _ = _browsing()
    labels = cobrowse_topics(text, user, GROUPS * PER_GROUP + 1, 400)
    assert labels[-1] == -1 and (labels[:-1] >= 0).all()
    empty = np.array([], dtype=np.int64)
    assert (cobrowse_topics(empty, empty, 5, 0) == -1).all()


def test_other_texts_take_the_topic_they_sit_nearest():
    rng = np.random.default_rng(1)
    kind = np.repeat(np.arange(GROUPS), PER_GROUP)
    space = np.eye(GROUPS)[kind] + 0.2 * rng.normal(size=(len(kind), GROUPS))
    labels = kind * 2 + (np.arange(len(kind)) % 2)  # two topics per kind
    ads = np.vstack([np.eye(GROUPS)[[3, 5]] + 0.1, np.zeros((1, GROUPS))])
    topics = topics_of_texts(space, labels, ads)
    assert topics[0] // 2 == 3 and topics[1] // 2 == 5
    assert topics[2] == -1


def test_a_log_with_few_distinct_texts_gets_topics_without_warnings():
    # three texts: fewer points than centroids, which k-means answers with empty
    # clusters, and duplicate points, which its seeding divides by zero on
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        few = cobrowse_topics(np.array([0, 1, 2, 0]), np.array([0, 1, 2, 3]), 3, 4)
        twins = cobrowse_topics(np.array([0, 1, 2, 3]), np.array([0, 0, 1, 1]), 4, 2)
    assert (few >= 0).all() and (few < 3).all()
    assert (twins >= 0).all() and (twins < 2).all()


def test_tied_directions_give_the_same_topics_run_to_run():
    # two users with two texts each: the co-browsing matrix's singular values tie, where
    # ARPACK picked another basis in about half the processes (and the topics followed it)
    script = ("import sys, numpy as np; from adopt.response.topics import cobrowse_topics; "
              "sys.stdout.write(str(cobrowse_topics(np.array([0, 1, 2, 3]), "
              "np.array([0, 0, 1, 1]), 4, 2).tolist()))")
    runs = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           check=True).stdout for _ in range(8)}
    assert len(runs) == 1
