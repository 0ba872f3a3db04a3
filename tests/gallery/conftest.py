"""Fixtures of the gallery tests: the shared database fixtures (SQLite + PostgreSQL) and real LFW
descriptors computed once per session through the engine's enrolment gate."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from db_fixtures import _pg_template, _sqlite_template, database_url, deployment  # noqa: E402,F401

#: LFW people with several photos that pass the enrolment gate. The tests check the gallery's
#: mechanics, not the model's accuracy (that is `trustface bench gallery`), so each person's probe is
#: the photo nearest the enrolment mean, and it must lie well inside every operating point.
PEOPLE = ("Colin_Powell", "Tony_Blair", "Donald_Rumsfeld", "Gerhard_Schroeder", "Ariel_Sharon",
          "Hugo_Chavez", "Jacques_Chirac", "Jean_Chretien", "John_Ashcroft", "Junichiro_Koizumi")
PROBE_MAX_DISTANCE = 0.42
PHOTOS_TRIED = 6


class Person:
    def __init__(self, name: str, paths: list[str], descriptors: np.ndarray):
        self.name, self.paths, self.descriptors = name, paths, descriptors

    @property
    def enrol(self) -> np.ndarray:   # two enrolment descriptors
        return self.descriptors[:2]

    @property
    def probe(self) -> np.ndarray:   # a third, unseen photo
        return self.descriptors[2]


@pytest.fixture(scope="session")
def people() -> dict[str, Person]:
    import os

    from trustface import engine, imaging
    from trustface.config import data_root
    from trustface.errors import TrustfaceError

    root = data_root() / "lfw" / "images"
    if not root.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"test data missing in CI: {root}")
        pytest.skip(f"LFW not found at {root} (set TRUSTFACE_DATA)")
    out = {}
    for name in PEOPLE:
        paths, vecs = [], []
        for path in sorted((root / name).glob("*.jpg")):
            image = imaging.load_image(path)
            try:
                face, _ = engine.enrolment_face(image)
            except TrustfaceError:
                continue
            paths.append(str(path))
            vecs.append(engine.describe(image, [face])[0])
            if len(vecs) == PHOTOS_TRIED:
                break
        assert len(vecs) >= 3, name
        mean = np.mean(vecs[:2], axis=0)
        best = 2 + int(np.argmin([np.linalg.norm(v - mean) for v in vecs[2:]]))
        assert np.linalg.norm(vecs[best] - mean) < PROBE_MAX_DISTANCE, name
        out[name] = Person(name, paths[:2] + [paths[best]], np.stack(vecs[:2] + [vecs[best]]))
    return out
