"""The one place that imports dlib, so the backend choice lives in one spot."""

from __future__ import annotations

import dlib  # noqa: F401  (re-exported)

BACKEND = "dlib-bin" if not getattr(dlib, "DLIB_USE_BLAS", False) else "dlib-blas"
