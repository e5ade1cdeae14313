"""Triton kernels, shipped as ``fastpix.kernels``. The only place fastpix imports triton:
``fastpix._dispatch`` imports this package to learn whether the kernels can run."""

from __future__ import annotations

import triton  # noqa: F401
