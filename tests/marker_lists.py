"""Which tests carry the ``browser`` and ``slow`` markers without saying so in their own module
(applied by ``pytest_collection_modifyitems`` in tests/conftest.py; checked by tests/test_markers.py).
Paths and node ids are relative to tests/."""

#: test files that drive a real Chromium through Playwright; marked here by path because a
#: module's own ``pytestmark`` would be the only other place (tests/web belongs to the web room)
BROWSER_TEST_FILES = ("web/test_web_pages.py",)
#: tests over ~5 s in modules owned by other rooms, marked ``slow`` here (node ids relative to tests/);
#: a test in your own module takes ``@pytest.mark.slow`` instead. tests/test_markers.py checks each exists.
SLOW_TESTS = (
    "engine/test_detection.py::test_dogs_have_no_human_face[auto]",  # the CNN fallback on a large photo: ~10-16 s
)
