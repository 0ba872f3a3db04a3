"""Near-copy marks (issue 17) on real frames: every common edit of a used frame (brightness and
contrast +-15 %, 6 px crops, scaling, mirroring, 4 degree rotations, re-encoding, noise) is still a
copy of it, while frames of the same person a third of a second or more apart in the data set's
video, and other photos of the same person, are not."""

import pytest
from lvframes import NEUTRAL, near_copies, pixels, video, video_frame

from trustface import imaging
from trustface.liveness import nearcopy

SOURCES = [("lfw", NEUTRAL[1]), ("video", 147), ("video", 203)]


def source_pixels(kind, ref):
    return pixels(ref) if kind == "lfw" else imaging.load_image(video_frame(ref))


@pytest.mark.parametrize(("kind", "ref"), SOURCES)
def test_every_common_edit_is_a_near_copy(kind, ref):
    original = nearcopy.probe(source_pixels(kind, ref))
    assert original is not None
    missed = {}
    for name, data in near_copies(source_pixels(kind, ref)).items():
        p = nearcopy.probe(imaging.load_image(data))
        if p is None or not nearcopy.is_copy(p, original.mark):
            missed[name] = None if p is None else nearcopy.distance(p, original.mark)
    assert missed == {}


def test_new_frames_of_the_same_person_are_not_copies():
    """Frames 10 apart (a third of a second) across the video's continuous shot, and other LFW
    photos of the same man: none is a copy of the other."""
    frames = video()[0]
    marks = {i: nearcopy.probe(frames[i]) for i in range(82, 211, 5)}
    pairs = [(i, i + 10) for i in marks if i + 10 in marks and marks[i] and marks[i + 10]]
    assert len(pairs) >= 15
    flagged = [(i, j) for i, j in pairs if nearcopy.is_copy(marks[j], marks[i].mark)]
    assert flagged == []
    photos = [nearcopy.probe(pixels(n)) for n in NEUTRAL]
    assert not any(nearcopy.is_copy(a, b.mark) for a in photos for b in photos if a is not b)


def test_marks_are_compact_and_cached():
    p = nearcopy.probe(pixels(NEUTRAL[0]))
    assert len(p.mark.chip) == 64 and len(p.mark.descriptor) == 256
    assert nearcopy.probe(pixels(NEUTRAL[0])) is p
