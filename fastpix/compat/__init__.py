"""Interoperability with other implementations' checkpoints (``fastpix.compat.pix2pix``)."""

from __future__ import annotations
