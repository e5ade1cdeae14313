"""Triton kernels: instance / batch normalization fused with its activation and dropout.

Layout. A 4-D input is viewed as N×C×HW with strides (stride_n, stride_c, stride_hw): NCHW
tensors have stride_hw == 1, channels_last tensors stride_c == 1. Triton specializes integer
arguments equal to 1, so the contiguous dimension is known at compile time and loads coalesce
along it: both layouts run without copies.

Groups and blocks. The elements that share statistics form a group: one (n, c) plane for
instance norm, one channel across the batch for batch norm. A program works on a block of
BLOCK_C channels × a range of samples × a range of HW positions, visited in BLOCK_C × BLOCK_HW
tiles. ``plan`` chooses one of two ways to cover the tensor:

- fused: each block is whole groups. With batch statistics a program runs a Welford loop over
  its groups, then a second loop that normalizes, activates, drops out and stores; the second
  read of x mostly hits L2. One launch.
- split, when whole groups give too few programs to fill the GPU (batch norm of large maps,
  instance norm at batch 1): partial Welford statistics per block, merged per group by a small
  second kernel, then the normalizing pass over the same blocks. x is read from memory twice.

With running statistics (eval) only the normalizing pass runs.

Backward recomputes x̂ = (x - mean)·rstd and the activation input z = x̂·w + b from x and the
saved per-group mean and variance (nothing of size N×C×H×W is saved besides x), regenerates
the dropout mask from its Philox seed and offsets, and computes

    dz = dy · keep/(1-p) · act'(z)
    dx = rstd·w · (dz - Σdz/M - x̂·Σ(dz·x̂)/M)      batch statistics (M elements per group)
    dx = rstd·w · dz                               running statistics
    dweight = Σ dz·x̂,   dbias = Σ dz

where the group sums come from a first loop (fused) or from per-block partial sums (split).
All arithmetic is fp32; x, y, dy and dx keep their dtype (fp32, fp16 or bf16).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, TypeVar

import torch
import triton
import triton.language as tl

ACTIVATION_CODES = {"none": 0, "relu": 1, "leaky_relu": 2, "tanh": 3}
_TILE_ELEMENTS = 2048  # elements a program loads per loop iteration (8 per thread at 8 warps)
_MIN_TILE_ELEMENTS = 256  # narrowest useful NCHW tile: below this most lanes idle
_MIN_CHANNELS_LAST_BLOCK_C = 16  # channels_last tiles keep >= 64 contiguous bytes per row
_MIN_TILES_PER_CHUNK = 2  # a split block loops over at least this many tiles
_PROGRAMS_PER_SM = 8  # enough resident programs per SM to keep memory requests in flight
_CPU_TARGET_PROGRAMS = 1  # the interpreter runs programs one by one: the fewest is fastest
_MERGE_BLOCK_P = 16  # partial statistics merged per iteration
_MAX_GRID_Y = 65535  # CUDA's limit on the second grid dimension
_T = TypeVar("_T")


# ----------------------------------------------------------------------------- device helpers


@triton.jit
def _program_block(N, C, HW, n_per_block, hw_per_block, BLOCK_C: tl.constexpr):
    """This program's block: channel offsets and mask (BLOCK_C), samples [n_begin, n_end)
    (int64) and positions [hw_begin, hw_end)."""
    c_offs = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
    n_begin = tl.program_id(1).to(tl.int64) * n_per_block
    hw_begin = tl.program_id(2) * hw_per_block
    n_end = tl.minimum(n_begin + n_per_block, N)
    return c_offs, c_offs < C, n_begin, n_end, hw_begin, tl.minimum(hw_begin + hw_per_block, HW)


@triton.jit
def _tile(
    n, hw_start, hw_end, c_offs, c_mask, stride_n, stride_c, stride_hw, BLOCK_HW: tl.constexpr
):
    """The tile of sample n from position hw_start: its positions (BLOCK_HW), mask and
    element offsets (BLOCK_C×BLOCK_HW)."""
    hw = hw_start + tl.arange(0, BLOCK_HW)
    mask = c_mask[:, None] & (hw < hw_end)[None, :]
    return hw, mask, n * stride_n + c_offs[:, None] * stride_c + hw[None, :] * stride_hw


@triton.jit
def _tanh(z):
    # exp form: runs on every backend and in the interpreter; abs error ~1e-7 in fp32
    e = tl.exp(-2.0 * tl.abs(z))
    t = (1.0 - e) / (1.0 + e)
    return tl.where(z < 0.0, -t, t)


@triton.jit
def _activation(z, negative_slope, ACTIVATION: tl.constexpr):
    if ACTIVATION == 1:
        z = tl.maximum(z, 0.0)
    elif ACTIVATION == 2:
        z = tl.where(z > 0.0, z, z * negative_slope)
    elif ACTIVATION == 3:
        z = _tanh(z)
    return z


@triton.jit
def _activation_grad(z, negative_slope, ACTIVATION: tl.constexpr):
    """d act(z) / dz, with torch's convention at z == 0 (ReLU: 0, LeakyReLU: slope)."""
    if ACTIVATION == 0:
        g = tl.full(z.shape, 1.0, tl.float32)
    elif ACTIVATION == 1:
        g = tl.where(z > 0.0, 1.0, 0.0)
    elif ACTIVATION == 2:
        g = tl.where(z > 0.0, 1.0, negative_slope)
    else:
        t = _tanh(z)
        g = 1.0 - t * t
    return g


@triton.jit
def _dropout(v, seed, n, c_offs, hw, C, HW, dropout_p, dropout_scale):
    """Zero v where the Philox draw for the element's logical NCHW index is below p and scale
    the rest: the same seed gives the same mask in forward and backward, for any layout/plan."""
    index = (n * C + c_offs[:, None].to(tl.int64)) * HW + hw[None, :]
    return tl.where(tl.rand(seed, index) >= dropout_p, v * dropout_scale, 0.0)


@triton.jit
def _preact_grad(
    x_ptr,  # N×C×HW input of the forward
    dy_ptr,  # N×C×HW output gradient
    offs,  # BLOCK_C×BLOCK_HW element offsets
    mask,
    n,
    c_offs,
    hw,
    C,
    HW,
    mean,  # BLOCK_C
    rstd,  # BLOCK_C
    weight,  # BLOCK_C
    bias,  # BLOCK_C
    seed,
    negative_slope,
    dropout_p,
    dropout_scale,
    ACTIVATION: tl.constexpr,
    DROPOUT: tl.constexpr,
):
    """(x̂, dz) of one tile: the normalized input, recomputed, and dL/dz at z = x̂·w + b."""
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    dy = tl.load(dy_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    x_hat = (x - mean[:, None]) * rstd[:, None]
    z = x_hat * weight[:, None] + bias[:, None]
    if DROPOUT:
        dy = _dropout(dy, seed, n, c_offs, hw, C, HW, dropout_p, dropout_scale)
    return x_hat, dy * _activation_grad(z, negative_slope, ACTIVATION)


@triton.jit
def _welford_merge(count_a, mean_a, m2_a, count_b, mean_b, m2_b):
    """Chan et al.'s merge of two (count, mean, sum of squared deviations) states."""
    count = count_a + count_b
    frac_b = tl.where(count > 0.0, count_b / tl.maximum(count, 1.0), 0.0)
    delta = mean_b - mean_a
    return count, mean_a + delta * frac_b, m2_a + m2_b + delta * delta * count_a * frac_b


@triton.jit
def _welford_reduce(count, mean, m2, AXIS: tl.constexpr):
    """Merge the Welford states along AXIS at once: the total mean, then each state's m2 plus
    its count times its squared distance to that mean. Plain sums, no custom combine."""
    total = tl.sum(count, AXIS)
    total_mean = tl.sum(count * mean, AXIS) / tl.maximum(total, 1.0)
    deviation = mean - tl.expand_dims(total_mean, AXIS)
    return total, total_mean, tl.sum(m2 + count * deviation * deviation, AXIS)


@triton.jit
def _block_welford(
    x_ptr,  # N×C×HW input
    stride_n,
    stride_c,
    stride_hw,
    c_offs,  # BLOCK_C channel indices
    c_mask,  # BLOCK_C
    n_begin,  # int64
    n_end,
    hw_begin,
    hw_end,
    BLOCK_C: tl.constexpr,
    BLOCK_HW: tl.constexpr,
):
    """Per-channel Welford state (count, mean, m2) of x[n_begin:n_end, c_offs, hw_begin:hw_end].

    Every lane keeps its own running state (no cross-lane traffic in the loop); the lanes are
    merged once at the end.
    """
    count = tl.zeros([BLOCK_C, BLOCK_HW], tl.float32)
    mean = tl.zeros([BLOCK_C, BLOCK_HW], tl.float32)
    m2 = tl.zeros([BLOCK_C, BLOCK_HW], tl.float32)
    for n in range(n_begin, n_end):
        for hw_start in range(hw_begin, hw_end, BLOCK_HW):
            _, mask, offs = _tile(
                n, hw_start, hw_end, c_offs, c_mask, stride_n, stride_c, stride_hw, BLOCK_HW
            )
            x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
            count += mask.to(tl.float32)
            delta = x - mean
            mean += tl.where(mask, delta / tl.maximum(count, 1.0), 0.0)
            m2 += tl.where(mask, delta * (x - mean), 0.0)
    return _welford_reduce(count, mean, m2, 1)


@triton.jit
def _store_statistics(
    mean_ptr,  # G×C fp32 group means
    var_ptr,  # G×C fp32 group biased variances
    running_mean_ptr,  # C running mean (updated when UPDATE_RUNNING)
    running_var_ptr,  # C running variance (updated when UPDATE_RUNNING)
    stats,  # BLOCK_C offsets of the groups in mean_ptr / var_ptr
    c_offs,  # BLOCK_C channel indices
    c_mask,
    mean,  # BLOCK_C
    var,  # BLOCK_C
    momentum,
    unbias,  # M / (M - 1): biased to unbiased variance
    UPDATE_RUNNING: tl.constexpr,  # per-channel statistics and running buffers to update
):
    """Store group statistics; with UPDATE_RUNNING also blend them into the running ones as
    torch does: running = (1 - momentum)·running + momentum·batch, the variance unbiased."""
    tl.store(mean_ptr + stats, mean, mask=c_mask)
    tl.store(var_ptr + stats, var, mask=c_mask)
    if UPDATE_RUNNING:
        old_mean = tl.load(running_mean_ptr + c_offs, mask=c_mask, other=0.0).to(tl.float32)
        old_var = tl.load(running_var_ptr + c_offs, mask=c_mask, other=0.0).to(tl.float32)
        new_mean = (1.0 - momentum) * old_mean + momentum * mean
        new_var = (1.0 - momentum) * old_var + momentum * (var * unbias)
        tl.store(
            running_mean_ptr + c_offs, new_mean.to(running_mean_ptr.dtype.element_ty), mask=c_mask
        )
        tl.store(
            running_var_ptr + c_offs, new_var.to(running_var_ptr.dtype.element_ty), mask=c_mask
        )


@triton.jit
def _forward_statistics(
    x_ptr, mean_ptr, var_ptr, running_mean_ptr, running_var_ptr,
    stride_n, stride_c, stride_hw, stats, c_offs, c_mask,
    n_begin, n_end, hw_begin, hw_end, momentum, unbias, eps,
    COMPUTE_STATS: tl.constexpr, UPDATE_RUNNING: tl.constexpr,
    BLOCK_C: tl.constexpr, BLOCK_HW: tl.constexpr,
):  # fmt: skip
    """(mean, rstd) per channel of a forward block: computed from x and stored (COMPUTE_STATS:
    the block covers whole groups), or read from mean_ptr / var_ptr."""
    if COMPUTE_STATS:
        count, mean, m2 = _block_welford(
            x_ptr, stride_n, stride_c, stride_hw, c_offs, c_mask,
            n_begin, n_end, hw_begin, hw_end, BLOCK_C, BLOCK_HW,
        )  # fmt: skip
        var = m2 / tl.maximum(count, 1.0)
        _store_statistics(
            mean_ptr, var_ptr, running_mean_ptr, running_var_ptr, stats, c_offs, c_mask,
            mean, var, momentum, unbias, UPDATE_RUNNING,
        )  # fmt: skip
    else:
        mean = tl.load(mean_ptr + stats, mask=c_mask, other=0.0)
        var = tl.load(var_ptr + stats, mask=c_mask, other=1.0)
    return mean, 1.0 / tl.sqrt(var + eps)


@triton.jit
def _affine_and_seed(
    weight_ptr, bias_ptr, seed_ptr, c_offs, c_mask,
    HAS_WEIGHT: tl.constexpr, HAS_BIAS: tl.constexpr, DROPOUT: tl.constexpr,
    BLOCK_C: tl.constexpr,
):  # fmt: skip
    """Per-channel fp32 weight and bias of a block (1 and 0 where the layer has none) and the
    dropout seed (0 without dropout)."""
    weight = tl.full([BLOCK_C], 1.0, tl.float32)
    bias = tl.zeros([BLOCK_C], tl.float32)
    if HAS_WEIGHT:
        weight = tl.load(weight_ptr + c_offs, mask=c_mask, other=1.0).to(tl.float32)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + c_offs, mask=c_mask, other=0.0).to(tl.float32)
    seed = 0
    if DROPOUT:
        seed = tl.load(seed_ptr)
    return weight, bias, seed


# ----------------------------------------------------------------------------- kernels


@triton.jit
def _norm_stats_kernel(
    x_ptr,  # N×C×HW input
    count_ptr,  # n_blocks×hw_blocks×C fp32 partial element counts
    mean_ptr,  # n_blocks×hw_blocks×C fp32 partial means
    m2_ptr,  # n_blocks×hw_blocks×C fp32 partial sums of squared deviations
    N,
    C,
    HW,
    stride_n,
    stride_c,
    stride_hw,
    n_per_block,
    hw_per_block,
    BLOCK_C: tl.constexpr,
    BLOCK_HW: tl.constexpr,
):
    c_offs, c_mask, n_begin, n_end, hw_begin, hw_end = _program_block(
        N, C, HW, n_per_block, hw_per_block, BLOCK_C
    )
    count, mean, m2 = _block_welford(
        x_ptr, stride_n, stride_c, stride_hw, c_offs, c_mask,
        n_begin, n_end, hw_begin, hw_end, BLOCK_C, BLOCK_HW,
    )  # fmt: skip
    out = (tl.program_id(1) * tl.num_programs(2) + tl.program_id(2)) * C + c_offs
    tl.store(count_ptr + out, count, mask=c_mask)
    tl.store(mean_ptr + out, mean, mask=c_mask)
    tl.store(m2_ptr + out, m2, mask=c_mask)


@triton.jit
def _welford_merge_kernel(
    count_ptr,  # G×P×C fp32 partial counts
    mean_ptr,  # G×P×C fp32 partial means
    m2_ptr,  # G×P×C fp32 partial sums of squared deviations
    mean_out_ptr,  # G×C fp32 group means
    var_out_ptr,  # G×C fp32 group biased variances
    running_mean_ptr,  # C (updated when UPDATE_RUNNING, G == 1)
    running_var_ptr,  # C
    C,
    P,
    momentum,
    unbias,
    UPDATE_RUNNING: tl.constexpr,
    BLOCK_C: tl.constexpr,
    BLOCK_P: tl.constexpr,
):
    pid_c, g = tl.program_id(0), tl.program_id(1)
    c_offs = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
    c_mask = c_offs < C
    count = tl.zeros([BLOCK_C], tl.float32)
    mean = tl.zeros([BLOCK_C], tl.float32)
    m2 = tl.zeros([BLOCK_C], tl.float32)
    for p_start in range(0, P, BLOCK_P):
        p = p_start + tl.arange(0, BLOCK_P)
        mask = (p < P)[:, None] & c_mask[None, :]
        offs = (g * P + p[:, None]) * C + c_offs[None, :]
        block_count, block_mean, block_m2 = _welford_reduce(
            tl.load(count_ptr + offs, mask=mask, other=0.0),
            tl.load(mean_ptr + offs, mask=mask, other=0.0),
            tl.load(m2_ptr + offs, mask=mask, other=0.0),
            0,
        )
        count, mean, m2 = _welford_merge(count, mean, m2, block_count, block_mean, block_m2)
    _store_statistics(
        mean_out_ptr, var_out_ptr, running_mean_ptr, running_var_ptr, g * C + c_offs, c_offs,
        c_mask, mean, m2 / tl.maximum(count, 1.0), momentum, unbias, UPDATE_RUNNING,
    )  # fmt: skip


@triton.jit
def _norm_act_fwd_kernel(
    x_ptr,  # N×C×HW input
    y_ptr,  # N×C×HW output, same strides as x
    weight_ptr,  # C (read when HAS_WEIGHT)
    bias_ptr,  # C (read when HAS_BIAS)
    mean_ptr,  # G×C fp32 group means: written when COMPUTE_STATS, read otherwise
    var_ptr,  # G×C fp32 group biased variances, same
    running_mean_ptr,  # C (updated when UPDATE_RUNNING)
    running_var_ptr,  # C
    seed_ptr,  # 1 int64 Philox seed (read when DROPOUT)
    N,
    C,
    HW,
    stride_n,
    stride_c,
    stride_hw,
    stats_stride_n,  # C when statistics are per (n, c) plane, 0 when per channel
    n_per_block,
    hw_per_block,
    momentum,
    unbias,  # M / (M - 1)
    eps,
    negative_slope,
    dropout_p,
    dropout_scale,  # 1 / (1 - p)
    COMPUTE_STATS: tl.constexpr,  # the block covers whole groups: compute their statistics
    UPDATE_RUNNING: tl.constexpr,  # ... and blend them into the running ones (per channel)
    HAS_WEIGHT: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    ACTIVATION: tl.constexpr,
    DROPOUT: tl.constexpr,
    BLOCK_C: tl.constexpr,
    BLOCK_HW: tl.constexpr,
):
    c_offs, c_mask, n_begin, n_end, hw_begin, hw_end = _program_block(
        N, C, HW, n_per_block, hw_per_block, BLOCK_C
    )
    mean, rstd = _forward_statistics(
        x_ptr, mean_ptr, var_ptr, running_mean_ptr, running_var_ptr,
        stride_n, stride_c, stride_hw, n_begin * stats_stride_n + c_offs, c_offs, c_mask,
        n_begin, n_end, hw_begin, hw_end, momentum, unbias, eps,
        COMPUTE_STATS, UPDATE_RUNNING, BLOCK_C, BLOCK_HW,
    )  # fmt: skip
    weight, bias, seed = _affine_and_seed(
        weight_ptr, bias_ptr, seed_ptr, c_offs, c_mask, HAS_WEIGHT, HAS_BIAS, DROPOUT, BLOCK_C
    )
    for n in range(n_begin, n_end):
        for hw_start in range(hw_begin, hw_end, BLOCK_HW):
            hw, mask, offs = _tile(
                n, hw_start, hw_end, c_offs, c_mask, stride_n, stride_c, stride_hw, BLOCK_HW
            )
            x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
            x_hat = (x - mean[:, None]) * rstd[:, None]
            out = _activation(x_hat * weight[:, None] + bias[:, None], negative_slope, ACTIVATION)
            if DROPOUT:
                out = _dropout(out, seed, n, c_offs, hw, C, HW, dropout_p, dropout_scale)
            tl.store(y_ptr + offs, out.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _norm_act_bwd_kernel(
    x_ptr,  # N×C×HW input of the forward
    dy_ptr,  # N×C×HW gradient of the output, same strides as x
    dx_ptr,  # N×C×HW gradient of the input, same strides as x (written when WRITE_DX)
    weight_ptr,  # C (read when HAS_WEIGHT)
    bias_ptr,  # C (read when HAS_BIAS)
    mean_ptr,  # G×C fp32 statistics used by the forward
    var_ptr,  # G×C fp32
    seed_ptr,  # 1 int64 Philox seed of the forward's dropout
    sum_dz_ptr,  # fp32 Σdz: n_blocks×hw_blocks×C per block (COMPUTE_SUMS) or G×C per group
    sum_dz_xhat_ptr,  # fp32 Σdz·x̂, laid out as sum_dz_ptr
    N,
    C,
    HW,
    stride_n,
    stride_c,
    stride_hw,
    stats_stride_n,  # C when statistics are per (n, c) plane, 0 when per channel
    n_per_block,
    hw_per_block,
    group_size,  # M: elements per group (float)
    eps,
    negative_slope,
    dropout_p,
    dropout_scale,
    BATCH_STATS: tl.constexpr,  # the forward normalized with batch statistics
    COMPUTE_SUMS: tl.constexpr,  # form this block's sums (else read the group sums)
    WRITE_DX: tl.constexpr,
    HAS_WEIGHT: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    ACTIVATION: tl.constexpr,
    DROPOUT: tl.constexpr,
    BLOCK_C: tl.constexpr,
    BLOCK_HW: tl.constexpr,
):
    c_offs, c_mask, n_begin, n_end, hw_begin, hw_end = _program_block(
        N, C, HW, n_per_block, hw_per_block, BLOCK_C
    )
    stats = n_begin * stats_stride_n + c_offs
    block_sums = (tl.program_id(1) * tl.num_programs(2) + tl.program_id(2)) * C + c_offs
    mean = tl.load(mean_ptr + stats, mask=c_mask, other=0.0)
    rstd = 1.0 / tl.sqrt(tl.load(var_ptr + stats, mask=c_mask, other=1.0) + eps)
    weight, bias, seed = _affine_and_seed(
        weight_ptr, bias_ptr, seed_ptr, c_offs, c_mask, HAS_WEIGHT, HAS_BIAS, DROPOUT, BLOCK_C
    )

    # Batch statistics: dx needs the group sums, so they come first, in their own loop.
    mean_dz = tl.zeros([BLOCK_C], tl.float32)
    mean_dz_xhat = tl.zeros([BLOCK_C], tl.float32)
    if BATCH_STATS:
        if COMPUTE_SUMS:
            acc_dz = tl.zeros([BLOCK_C, BLOCK_HW], tl.float32)
            acc_dz_xhat = tl.zeros([BLOCK_C, BLOCK_HW], tl.float32)
            for n in range(n_begin, n_end):
                for hw_start in range(hw_begin, hw_end, BLOCK_HW):
                    hw, mask, offs = _tile(
                        n, hw_start, hw_end, c_offs, c_mask, stride_n, stride_c, stride_hw, BLOCK_HW
                    )
                    x_hat, dz = _preact_grad(
                        x_ptr, dy_ptr, offs, mask, n, c_offs, hw,
                        C, HW, mean, rstd, weight, bias, seed, negative_slope, dropout_p,
                        dropout_scale, ACTIVATION, DROPOUT,
                    )  # fmt: skip
                    acc_dz += dz
                    acc_dz_xhat += dz * x_hat
            sum_dz = tl.sum(acc_dz, 1)
            sum_dz_xhat = tl.sum(acc_dz_xhat, 1)
            tl.store(sum_dz_ptr + block_sums, sum_dz, mask=c_mask)
            tl.store(sum_dz_xhat_ptr + block_sums, sum_dz_xhat, mask=c_mask)
        else:
            sum_dz = tl.load(sum_dz_ptr + stats, mask=c_mask, other=0.0)
            sum_dz_xhat = tl.load(sum_dz_xhat_ptr + stats, mask=c_mask, other=0.0)
        mean_dz = sum_dz / group_size
        mean_dz_xhat = sum_dz_xhat / group_size

    # Running statistics: dx is elementwise, and the sums for dweight/dbias ride along.
    if WRITE_DX:
        acc_dz = tl.zeros([BLOCK_C, BLOCK_HW], tl.float32)
        acc_dz_xhat = tl.zeros([BLOCK_C, BLOCK_HW], tl.float32)
        for n in range(n_begin, n_end):
            for hw_start in range(hw_begin, hw_end, BLOCK_HW):
                hw, mask, offs = _tile(
                    n, hw_start, hw_end, c_offs, c_mask, stride_n, stride_c, stride_hw, BLOCK_HW
                )
                x_hat, dz = _preact_grad(
                    x_ptr, dy_ptr, offs, mask, n, c_offs, hw, C, HW, mean, rstd, weight, bias,
                    seed, negative_slope, dropout_p, dropout_scale, ACTIVATION, DROPOUT,
                )  # fmt: skip
                if BATCH_STATS:
                    dz = dz - mean_dz[:, None] - x_hat * mean_dz_xhat[:, None]
                elif COMPUTE_SUMS:
                    acc_dz += dz
                    acc_dz_xhat += dz * x_hat
                dx = dz * (rstd * weight)[:, None]
                tl.store(dx_ptr + offs, dx.to(dx_ptr.dtype.element_ty), mask=mask)
        if (not BATCH_STATS) and COMPUTE_SUMS:
            tl.store(sum_dz_ptr + block_sums, tl.sum(acc_dz, 1), mask=c_mask)
            tl.store(sum_dz_xhat_ptr + block_sums, tl.sum(acc_dz_xhat, 1), mask=c_mask)


# ----------------------------------------------------------------------------- host functions


def on_input_device(host_fn: Callable[..., _T]) -> Callable[..., _T]:
    """Run ``host_fn`` with the current CUDA device set to its first argument's: Triton
    launches on the current device, whatever device the tensors are on."""

    @functools.wraps(host_fn)
    def run(x: torch.Tensor, *args, **kwargs) -> _T:
        if not x.is_cuda:
            return host_fn(x, *args, **kwargs)
        with torch.cuda.device(x.device):
            return host_fn(x, *args, **kwargs)

    return run


def memory_format(x: torch.Tensor) -> torch.memory_format:
    """The layout the kernels run ``x`` in: channels_last when ``x`` is channels_last-dense
    (and not also NCHW-dense), NCHW-contiguous otherwise (other strides are copied first)."""
    if not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def nc_hw_view(x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int, int, int, int]]:
    """``x`` made dense in its ``memory_format`` and its N×C×HW view:
    (N, C, HW, stride_n, stride_c, stride_hw) in elements."""
    layout = memory_format(x)
    x = x.contiguous(memory_format=layout)
    n, c, h, w = x.shape
    # Strides from the shape: torch leaves the strides of size-1 dimensions unspecified.
    if layout == torch.channels_last:
        return x, (n, c, h * w, h * w * c, 1, c)
    return x, (n, c, h * w, c * h * w, h * w, 1)


@functools.cache
def _sm_count(index: int) -> int:
    return torch.cuda.get_device_properties(index).multi_processor_count


def target_programs(device: torch.device) -> int:
    """How many programs a grid needs to keep ``device`` busy."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return _PROGRAMS_PER_SM * _sm_count(index)
    return _CPU_TARGET_PROGRAMS


@dataclass(frozen=True)
class Plan:
    """How programs cover an N×C×HW tensor.

    Program (i, j, k) works on channels [i·block_c, (i+1)·block_c), samples
    [j·n_per_block, …) and positions [k·hw_per_block, …) in block_c × block_hw tiles.
    ``fused``: every block is whole groups, so a program can form their statistics itself.
    """

    block_c: int
    block_hw: int
    num_warps: int
    n_per_block: int
    hw_per_block: int
    grid: tuple[int, int, int]
    fused: bool

    @property
    def num_blocks_nhw(self) -> int:
        return self.grid[1] * self.grid[2]


def plan(
    dims: tuple[int, int, int, int, int, int], per_instance: bool, device: torch.device
) -> Plan:
    """Tile sizes and grid for the N×C×HW view ``dims`` (from ``nc_hw_view``)."""
    return _plan(dims, per_instance, target_programs(device))


@functools.lru_cache(maxsize=4096)  # layers see the same few shapes at every step
def _plan(dims: tuple[int, int, int, int, int, int], per_instance: bool, target: int) -> Plan:
    n, c, hw, _, stride_c, _ = dims
    if n > _MAX_GRID_Y:
        raise ValueError(f"a batch of {n} samples: the kernels take at most {_MAX_GRID_Y}")
    channels_last = stride_c == 1 and c > 1
    c_pow, hw_pow = triton.next_power_of_2(c), triton.next_power_of_2(hw)
    if channels_last:
        block_c = min(c_pow, 128)
        min_block_c = min(c_pow, _MIN_CHANNELS_LAST_BLOCK_C)
    else:
        block_hw = min(hw_pow, _TILE_ELEMENTS)
        block_c = min(c_pow, max(1, _TILE_ELEMENTS // block_hw))
        min_block_c = min(block_c, max(1, _MIN_TILE_ELEMENTS // block_hw))
    groups_per_channel = n if per_instance else 1
    # Narrower channel tiles until whole groups alone give enough programs.
    while triton.cdiv(c, block_c) * groups_per_channel < target and block_c > min_block_c:
        block_c //= 2
    if channels_last:
        block_hw = min(hw_pow, max(1, _TILE_ELEMENTS // block_c))
    c_tiles = triton.cdiv(c, block_c)
    num_warps = max(1, min(8, block_c * block_hw // 256))
    hw_tiles = triton.cdiv(hw, block_hw)
    tiles_per_group = hw_tiles * (1 if per_instance else n)
    chunks = min(
        triton.cdiv(target, c_tiles * groups_per_channel),
        tiles_per_group // _MIN_TILES_PER_CHUNK,
    )
    if chunks <= 1:
        n_per_block = 1 if per_instance else n
        grid = (c_tiles, groups_per_channel, 1)
        return Plan(block_c, block_hw, num_warps, n_per_block, hw, grid, fused=True)
    # Split the groups: batch norm first across samples, then (both norms) across positions.
    n_per_block, hw_chunks = 1, chunks
    if not per_instance and chunks <= n:
        n_per_block, hw_chunks = triton.cdiv(n, chunks), 1
    elif not per_instance:
        hw_chunks = triton.cdiv(chunks, n)
    hw_per_block = triton.cdiv(hw_tiles, min(hw_chunks, hw_tiles)) * block_hw
    grid = (c_tiles, triton.cdiv(n, n_per_block), triton.cdiv(hw, hw_per_block))
    return Plan(block_c, block_hw, num_warps, n_per_block, hw_per_block, grid, fused=False)


@dataclass(frozen=True)
class RunningStats:
    """Running statistics to update from batch statistics of groups of ``count`` elements."""

    mean: torch.Tensor  # C
    var: torch.Tensor  # C
    momentum: float
    count: int

    @property
    def unbias(self) -> float:
        return self.count / (self.count - 1) if self.count > 1 else 1.0


def running_stats_to_update(
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    momentum: float,
    dims: tuple[int, int, int, int, int, int],
    per_instance: bool,
) -> RunningStats | None:
    """The running statistics a training step updates (None when there are none)."""
    if running_mean is None or running_var is None:
        return None
    n, _, hw = dims[:3]
    return RunningStats(running_mean, running_var, momentum, hw if per_instance else n * hw)


def blend_instance_running_stats(
    running: RunningStats, mean: torch.Tensor, var: torch.Tensor
) -> None:
    """torch's update from instance statistics (N×C): their average over the batch, each
    variance unbiased, blended in with the momentum."""
    m = running.momentum
    running.mean.mul_(1.0 - m).add_(mean.mean(0).to(running.mean.dtype), alpha=m)
    batch_var = (var.mean(0) * running.unbias).to(running.var.dtype)
    running.var.mul_(1.0 - m).add_(batch_var, alpha=m)


def split_statistics(
    x: torch.Tensor,
    dims: tuple[int, int, int, int, int, int],
    p: Plan,
    per_instance: bool,
    running: RunningStats | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Group mean and biased variance (fp32 G×C; G = N per instance, 1 per channel) of the
    dense tensor ``x`` by partial Welford statistics per block of the split plan ``p``;
    per-channel ``running`` statistics are updated with them."""
    n, c, hw, stride_n, stride_c, stride_hw = dims
    parts = torch.empty(3, p.num_blocks_nhw, c, device=x.device, dtype=torch.float32)
    _norm_stats_kernel[p.grid](
        x, parts[0], parts[1], parts[2], n, c, hw, stride_n, stride_c, stride_hw,
        p.n_per_block, p.hw_per_block,
        BLOCK_C=p.block_c, BLOCK_HW=p.block_hw, num_warps=p.num_warps, enable_fp_fusion=True,
    )  # fmt: skip
    groups = n if per_instance else 1
    mean = torch.empty(groups, c, device=x.device, dtype=torch.float32)
    var = torch.empty_like(mean)
    update = running is not None and not per_instance
    block_c = min(triton.next_power_of_2(c), 128)
    _welford_merge_kernel[(triton.cdiv(c, block_c), groups)](
        parts[0], parts[1], parts[2], mean, var,
        running.mean if update else mean, running.var if update else var,
        c, p.num_blocks_nhw // groups,
        running.momentum if update else 0.0, running.unbias if update else 1.0,
        UPDATE_RUNNING=update,
        BLOCK_C=block_c, BLOCK_P=_MERGE_BLOCK_P, num_warps=4, enable_fp_fusion=True,
    )  # fmt: skip
    return mean, var


def forward_statistics(
    x: torch.Tensor,
    dims: tuple[int, int, int, int, int, int],
    p: Plan,
    per_instance: bool,
    use_batch_stats: bool,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    momentum: float,
) -> tuple[torch.Tensor, torch.Tensor, RunningStats | None, bool]:
    """What a forward launch normalizes with: (mean, var, running, update_in_kernel).

    Batch statistics of a fused plan are left for the kernel to compute (empty G×C buffers),
    those of a split plan are computed here first; without batch statistics the running ones
    are passed. ``update_in_kernel``: the kernel blends per-channel statistics into
    ``running`` itself."""
    n, c = dims[:2]
    running = running_stats_to_update(running_mean, running_var, momentum, dims, per_instance)
    update_in_kernel = use_batch_stats and running is not None and not per_instance
    if use_batch_stats and p.fused:
        mean = torch.empty(n if per_instance else 1, c, device=x.device, dtype=torch.float32)
        var = torch.empty_like(mean)
    elif use_batch_stats:
        mean, var = split_statistics(x, dims, p, per_instance, running)
    else:
        mean = running_mean.detach().float().contiguous()
        var = running_var.detach().float().contiguous()
    return mean, var, running, update_in_kernel


def forward_outputs(
    x: torch.Tensor,
    y: torch.Tensor,
    mean: torch.Tensor,
    var: torch.Tensor,
    running: RunningStats | None,
    per_instance: bool,
    use_batch_stats: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(y, mean, var) of a forward after its launch; instance statistics are blended into the
    running ones here (per-channel ones were blended by the kernel or ``split_statistics``)."""
    if not use_batch_stats:  # nothing to return; two distinct empty tensors (ops never alias)
        return y, x.new_empty(0, dtype=torch.float32), x.new_empty(0, dtype=torch.float32)
    if running is not None and per_instance:
        blend_instance_running_stats(running, mean, var)
    return y, mean, var


def _dropout_args(dropout: float) -> tuple[float, float]:
    return float(dropout), (1.0 / (1.0 - dropout) if dropout < 1.0 else 0.0)


@on_input_device
def norm_act_forward(
    x: torch.Tensor,
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    seed: torch.Tensor | None,
    per_instance: bool,
    use_batch_stats: bool,
    momentum: float,
    eps: float,
    activation: str,
    negative_slope: float,
    dropout: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``dropout(act(x̂·weight + bias))`` of an N×C×H×W fp32/fp16/bf16 tensor.

    With ``use_batch_stats`` the statistics are the input's (per (n, c) plane when
    ``per_instance``, else per channel), returned as fp32 G×C mean and biased variance (G = N
    or 1), and the C ``running_mean``/``running_var``, if given, are updated in place as torch
    does; otherwise the running statistics normalize and the returned ones are empty.
    ``seed`` (1 int64 on x's device) seeds the dropout mask when ``dropout`` > 0. ``y`` has
    x's dtype and layout (NCHW or channels_last).
    """
    x, dims = nc_hw_view(x)
    n, c, hw, stride_n, stride_c, stride_hw = dims
    p = plan(dims, per_instance, x.device)
    y = torch.empty_like(x, memory_format=memory_format(x))
    mean, var, running, update_in_kernel = forward_statistics(
        x, dims, p, per_instance, use_batch_stats, running_mean, running_var, momentum
    )
    drop_p, drop_scale = _dropout_args(dropout)
    _norm_act_fwd_kernel[p.grid](
        x, y,
        weight if weight is not None else x,
        bias if bias is not None else x,
        mean, var,
        running.mean if update_in_kernel else mean,
        running.var if update_in_kernel else var,
        seed if seed is not None else x,
        n, c, hw, stride_n, stride_c, stride_hw,
        c if use_batch_stats and per_instance else 0,
        p.n_per_block, p.hw_per_block,
        momentum, running.unbias if running is not None else 1.0,
        eps, negative_slope, drop_p, drop_scale,
        COMPUTE_STATS=use_batch_stats and p.fused,
        UPDATE_RUNNING=update_in_kernel and p.fused,
        HAS_WEIGHT=weight is not None,
        HAS_BIAS=bias is not None,
        ACTIVATION=ACTIVATION_CODES[activation],
        DROPOUT=dropout > 0.0,
        BLOCK_C=p.block_c, BLOCK_HW=p.block_hw, num_warps=p.num_warps, enable_fp_fusion=True,
    )  # fmt: skip
    return forward_outputs(x, y, mean, var, running, per_instance, use_batch_stats)


def _sum_rows(t: torch.Tensor) -> torch.Tensor:
    """Column sums of an R×C tensor, without a launch when R == 1."""
    return t[0] if t.shape[0] == 1 else t.sum(0)


@on_input_device
def norm_act_backward(
    grad_y: torch.Tensor,
    x: torch.Tensor,
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    mean: torch.Tensor,
    var: torch.Tensor,
    seed: torch.Tensor | None,
    per_instance: bool,
    batch_stats: bool,
    eps: float,
    activation: str,
    negative_slope: float,
    dropout: float,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Gradients (dx, dweight, dbias) of ``norm_act_forward``; ``mean``/``var`` are the
    statistics it used (G×C batch statistics when ``batch_stats``, else the C running ones).
    dweight/dbias are None where weight/bias are."""
    x, dims = nc_hw_view(x)
    n, c, hw, stride_n, stride_c, stride_hw = dims
    grad_y = grad_y.contiguous(memory_format=memory_format(x))
    p = plan(dims, per_instance, x.device)
    dx = torch.empty_like(x, memory_format=memory_format(x))
    affine = weight is not None or bias is not None
    # Σdz and Σdz·x̂ per block, in two buffers so that dbias and dweight never alias.
    block_sum_dz = torch.empty(p.num_blocks_nhw, c, device=x.device, dtype=torch.float32)
    block_sum_dz_xhat = torch.empty_like(block_sum_dz)
    mean = mean.detach().float().contiguous()
    var = var.detach().float().contiguous()
    drop_p, drop_scale = _dropout_args(dropout)

    def launch(
        sum_dz: torch.Tensor, sum_dz_xhat: torch.Tensor, compute_sums: bool, write_dx: bool
    ) -> None:
        _norm_act_bwd_kernel[p.grid](
            x, grad_y, dx,
            weight if weight is not None else x,
            bias if bias is not None else x,
            mean, var,
            seed if seed is not None else x,
            sum_dz, sum_dz_xhat,
            n, c, hw, stride_n, stride_c, stride_hw,
            c if batch_stats and per_instance else 0,
            p.n_per_block, p.hw_per_block,
            float(hw if per_instance else n * hw),
            eps, negative_slope, drop_p, drop_scale,
            BATCH_STATS=batch_stats,
            COMPUTE_SUMS=compute_sums,
            WRITE_DX=write_dx,
            HAS_WEIGHT=weight is not None,
            HAS_BIAS=bias is not None,
            ACTIVATION=ACTIVATION_CODES[activation],
            DROPOUT=dropout > 0.0,
            BLOCK_C=p.block_c, BLOCK_HW=p.block_hw, num_warps=p.num_warps, enable_fp_fusion=True,
        )  # fmt: skip

    if batch_stats and not p.fused:
        launch(block_sum_dz, block_sum_dz_xhat, compute_sums=True, write_dx=False)
        groups = n if per_instance else 1
        block_sum_dz = block_sum_dz.view(groups, -1, c).sum(1)
        block_sum_dz_xhat = block_sum_dz_xhat.view(groups, -1, c).sum(1)
        launch(block_sum_dz, block_sum_dz_xhat, compute_sums=False, write_dx=True)
    else:
        launch(block_sum_dz, block_sum_dz_xhat, compute_sums=batch_stats or affine, write_dx=True)
    dweight = _sum_rows(block_sum_dz_xhat).to(weight.dtype) if weight is not None else None
    dbias = _sum_rows(block_sum_dz).to(bias.dtype) if bias is not None else None
    return dx, dweight, dbias
