"""Appearance re-identification (engine/reid.py) on real FER2013 faces.

Crops are made the way a gallery shows faces: a 48x48 FER face upscaled to a ~100 px tile,
cut by a slightly different box each frame (detector jitter) and with a webcam-like brightness
drift, so "the same face" never gives the same pixels twice.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.reid import CONTEXT_DIM, EMBED_DIM, ReidConfig, StudentGallery, crop_face, embed

TILE = 104


@pytest.fixture(scope="module")
def faces(fer_data):
    """30 distinct PrivateTest faces (fixed picks), upscaled as a gallery tile would show them."""
    test = fer_data.split("PrivateTest")
    picks = np.random.default_rng(7).choice(len(test), 30, replace=False)
    return [cv2.resize(test.images[i], (TILE, TILE), interpolation=cv2.INTER_CUBIC) for i in picks]


def seen(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The face as one frame's detection box cuts it: a box inside the face image (where a face
    detector puts it), shifted and resized by a few pixels, brighter or darker."""
    dx, dy, dw = rng.integers(-3, 4, 3)
    box = (14 + dx, 14 + dy, 76 + dw, 76 + dw)
    crop = crop_face(face, box, margin=ReidConfig().margin).astype(np.float32) + rng.normal(0, 6)
    return np.clip(crop, 0, 255).astype(np.uint8)


def test_embedding_is_a_unit_vector_and_tiny_crops_have_none(faces):
    v = embed([faces[0], cv2.cvtColor(faces[1], cv2.COLOR_GRAY2BGR), np.zeros((5, 5), np.uint8)])
    assert v.shape == (3, EMBED_DIM) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v[:2], axis=1), 1.0, atol=1e-5)
    assert not v[2].any()


def test_same_face_is_similar_and_different_faces_are_not(faces):
    """A new look against the mean of five earlier looks (how the gallery keeps templates)."""
    rng = np.random.default_rng(0)
    templates = sum(embed([seen(f, rng) for f in faces]) for _ in range(5))
    templates /= np.linalg.norm(templates, axis=1, keepdims=True)
    sim = embed([seen(f, rng) for f in faces]) @ templates.T
    threshold = ReidConfig().match_similarity
    same = np.diag(sim)
    different = sim[~np.eye(len(faces), dtype=bool)]
    assert np.mean(same >= threshold) >= 0.95, same
    assert np.mean(different >= threshold) <= 0.01
    assert (sim.argmax(axis=1) == np.arange(len(faces))).mean() >= 0.95


def test_keys_follow_faces_when_the_gallery_reshuffles(faces):
    """Tracks stay where the boxes are (what an IoU tracker does); the faces move between them."""
    rng = np.random.default_rng(1)
    gallery = StudentGallery()
    n = 20
    positions = list(range(n))  # track id = tile position
    first = None
    for k in range(5):
        first = gallery.assign(k * 0.2, positions, [seen(faces[p], rng) for p in positions])
    assert sorted(first) == list(range(1, n + 1))
    order = np.random.default_rng(2).permutation(n)  # position p now shows face order[p]
    for k in range(5, 10):
        keys = gallery.assign(k * 0.2, positions, [seen(faces[order[p]], rng) for p in positions])
        assert keys == [first[order[p]] for p in positions]
    assert len(gallery.students) == n
    assert any(e.previous is not None and e.previous != e.student for e in gallery.events)


def test_someone_leaving_shifts_the_tiles_and_everyone_keeps_their_key(faces):
    rng = np.random.default_rng(3)
    gallery = StudentGallery()
    before = gallery.assign(0.0, list(range(9)), [seen(faces[i], rng) for i in range(9)])
    # Face 4 leaves; faces 5..8 slide one tile back; the last tile's track disappears.
    remaining = [0, 1, 2, 3, 5, 6, 7, 8]
    after = gallery.assign(0.2, list(range(8)), [seen(faces[i], rng) for i in remaining])
    assert after == [before[i] for i in remaining]


def test_a_returning_student_on_a_new_track_gets_their_key_back_and_a_newcomer_a_new_one(faces):
    rng = np.random.default_rng(4)
    gallery = StudentGallery()
    keys = gallery.assign(0.0, [1, 2, 3], [seen(faces[i], rng) for i in range(3)])
    gallery.assign(0.2, [1, 3], [seen(faces[0], rng), seen(faces[2], rng)])  # face 1 drops out
    back = gallery.assign(60.0, [1, 3, 17, 18], [seen(faces[i], rng) for i in (0, 2, 1, 9)])
    assert back[:3] == [keys[0], keys[2], keys[1]]
    assert back[3] not in keys


def test_a_track_keeps_its_student_when_the_look_changes_but_matches_nobody_else(faces):
    """E.g. the demo's tiles change FER face between segments; lighting or pose in real life."""
    rng = np.random.default_rng(5)
    gallery = StudentGallery()
    keys = gallery.assign(0.0, [1, 2], [seen(faces[0], rng), seen(faces[1], rng)])
    assert gallery.assign(0.2, [1, 2], [seen(faces[20], rng), seen(faces[1], rng)]) == keys
    # ... and the template has moved to the new look, so it is recognised on a new track later.
    for k in range(10):
        gallery.assign(0.4 + 0.2 * k, [1, 2], [seen(faces[20], rng), seen(faces[1], rng)])
    assert gallery.assign(5.0, [40], [seen(faces[20], rng)]) == [keys[0]]


def test_a_continuing_track_goes_to_a_student_who_left_a_while_ago_only_when_its_own_moved_away(faces):
    """A template is a mean of several looks: a changed look on a track that never broke must
    not hand a student who never left over to someone long gone. When the track's own student
    shows up on another face at that moment, someone else does sit there now."""
    rng = np.random.default_rng(8)
    gallery = StudentGallery()
    keys = gallery.assign(0.0, [1, 2, 3], [seen(faces[i], rng) for i in range(3)])
    gallery.assign(0.2, [1, 3], [seen(faces[0], rng), seen(faces[2], rng)])  # face 1 leaves
    assert gallery.assign(30.0, [1, 3], [seen(faces[1], rng), seen(faces[2], rng)]) == [keys[0], keys[2]]
    # Face 1 really comes back into that tile, and face 0 moves to a new one.
    back = gallery.assign(30.2, [1, 3, 7], [seen(faces[i], rng) for i in (1, 2, 0)])
    assert back == [keys[1], keys[2], keys[0]]
    assert len(gallery.students) == 3


def cell_contexts(n: int, rng: np.random.Generator) -> np.ndarray:
    """n unrelated cell contexts (unit vectors, as embed_context gives)."""
    v = rng.normal(size=(n, CONTEXT_DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def as_seen(contexts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One frame's reading of the contexts: similarity ~0.9 to the steady ones."""
    v = contexts + rng.normal(0, 0.5 / np.sqrt(CONTEXT_DIM), contexts.shape).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def a_class_whose_faces_change(faces, contexts_stay: bool, seed: int) -> tuple[StudentGallery, list[int], np.ndarray]:
    """Nine tiles whose faces change three times (a new FER face each time, as the generated
    galleries and the demo do); each cell's context stays (a participant's room and name) or
    changes with the face (the demo's plain tiles, where the context is the face's picture)."""
    rng = np.random.default_rng(seed)
    gallery = StudentGallery()
    tracks = list(range(9))
    contexts = cell_contexts(9, rng)
    keys = []
    t = 0.0
    for change in range(3):
        if change and not contexts_stay:
            contexts = cell_contexts(9, rng)
        for _ in range(10):
            keys = gallery.assign(t, tracks, [seen(faces[9 * change + i], rng) for i in tracks], as_seen(contexts, rng))
            t += 0.2
    return gallery, keys, contexts


def test_cell_contexts_that_stay_while_faces_change_carry_students_through_a_reshuffle(faces):
    """Everyone moves to another tile and shows a face never seen before at that moment: only
    the context (which moved with them) says who is where."""
    rng = np.random.default_rng(10)
    gallery, keys, contexts = a_class_whose_faces_change(faces, True, 10)
    assert len(gallery.students) == 9
    order = np.random.default_rng(11).permutation(9)  # tile p now shows participant order[p]
    new_faces = [cv2.flip(f, 0) for f in faces[:9]]  # upside down: like nobody's template
    moved = gallery.assign(10.0, list(range(9)), [seen(new_faces[order[p]], rng) for p in range(9)],
                           as_seen(contexts[order], rng))
    assert moved == [keys[order[p]] for p in range(9)]


def test_cell_contexts_that_change_with_the_faces_are_not_trusted(faces):
    """On plain tiles the context is the face's own picture: a new face's picture that looks
    like another student's cell does not take that student (it made 93 students of the demo's 25)."""
    rng = np.random.default_rng(12)
    gallery, keys, contexts = a_class_whose_faces_change(faces, False, 12)
    assert len(gallery.students) == 9
    looks_like_tile_5 = contexts.copy()
    looks_like_tile_5[0] = contexts[5]
    again = gallery.assign(10.0, list(range(9)), [seen(faces[27 + i % 3], rng) for i in range(9)],
                           as_seen(looks_like_tile_5, rng))
    assert again == keys


def test_students_are_forgotten_after_the_memory(faces):
    rng = np.random.default_rng(6)
    gallery = StudentGallery(ReidConfig(memory_s=30.0))
    (key,) = gallery.assign(0.0, [1], [seen(faces[0], rng)])
    assert gallery.assign(20.0, [2], [seen(faces[0], rng)]) == [key]
    assert gallery.assign(60.0, [3], [seen(faces[0], rng)]) != [key]


def test_bad_calls_are_refused(faces):
    gallery = StudentGallery()
    assert gallery.assign(0.0, [], []) == []
    with pytest.raises(ValueError, match="track ids but"):
        gallery.assign(0.0, [1, 2], [faces[0]])
    with pytest.raises(ValueError, match="twice"):
        gallery.assign(0.0, [1, 1], [faces[0], faces[1]])


def test_crop_face_stays_inside_the_frame():
    frame = np.zeros((100, 200, 3), np.uint8)
    assert crop_face(frame, (-10, -10, 50, 50), margin=0.1).shape == (45, 45, 3)
    assert crop_face(frame, (180, 90, 40, 40), margin=0.1).shape == (14, 24, 3)
    assert crop_face(frame, (300, 300, 10, 10)).size == 0
