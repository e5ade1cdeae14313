"""Seed 003's pipeline: segment a photo, synthesize a photo from the segmentation (SPADE or a
pix2pix labels → photo generator), segment the synthesized photo, and score the round trip.

    >>> from fastpix.pipeline import run_pipeline
    >>> result = run_pipeline(loader, "runs/fcn/best.pt", "runs/spade/best.pt")  # doctest: +SKIP
    >>> result.metrics["feedback"]["miou"], result.metrics["fcn_score"]["miou"]  # doctest: +SKIP
    >>> result.save("pipeline_out")  # metrics.json, summary.md, strips/*.png  # doctest: +SKIP

``fastpix pipeline`` runs it on a data folder (``fastpix.pipeline.cli``). Importing this
package is cheap (``fastpix --help`` imports the CLI); the submodules load on first use.
"""

from __future__ import annotations

from fastpix._lazy import lazy_getattr

# public name -> submodule that defines it, imported on first access
_LAZY = {
    "SCORES": "fastpix.pipeline.run",
    "PipelineResult": "fastpix.pipeline.run",
    "make_strips": "fastpix.pipeline.run",
    "run_pipeline": "fastpix.pipeline.run",
    "Segmenter": "fastpix.pipeline.stages",
    "Synthesizer": "fastpix.pipeline.stages",
    "class_mapping": "fastpix.pipeline.stages",
    "load_segmenter": "fastpix.pipeline.stages",
    "load_synthesizer": "fastpix.pipeline.stages",
}


__getattr__ = lazy_getattr(__name__, _LAZY)


__all__ = list(_LAZY)
