"""Inference: ``Predictor`` over TensorRT engines, ONNX files and fastpix checkpoints."""

from fastpix.infer.predictor import Predictor, PredictorTiming

__all__ = ["Predictor", "PredictorTiming"]
