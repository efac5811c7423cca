"""The helpers the image tests share: skipping what this machine cannot run (or failing under
REQUIRE_ALL_CHECKS=1), and reading the Dockerfile."""

from __future__ import annotations

from tests.dockerfile import instructions, python_env  # noqa: F401 - for this folder's tests
from tests.helpers import skip_or_fail  # noqa: F401 - for this folder's tests
