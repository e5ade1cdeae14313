"""Triton kernels, shipped as ``fastpix.kernels``. The only place fastpix imports triton."""
