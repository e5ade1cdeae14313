"""Triton kernels: SPADE's parameter-free normalization, modulation and activation, fused.

    y = act(x̂ · (1 + γ) + β),   x̂ = (x - mean) · rstd

where γ and β are full N×C×H×W tensors (the SPADE convolutions' outputs) and the statistics
are instance (per (n, c) plane) or batch (per channel) ones, from the input or running. The
tensors, groups, blocks and plans are those of ``fastpix.kernels.norm_act`` (its statistics
kernels and device helpers are reused here).

Backward, with z = x̂·(1 + γ) + β and dz = dy · act'(z):

    dγ = dz · x̂,   dβ = dz,   dx̂ = dz · (1 + γ)
    dx = rstd · (dx̂ - Σdx̂/M - x̂ · Σ(dx̂·x̂)/M)      batch statistics
    dx = rstd · dx̂                                  running statistics

The first loop (reads x, γ, β, dy) writes dγ and dβ and forms the group sums; the dx loop of a
split plan, a separate launch, reads dz back from dβ instead of reloading β and dy.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from fastpix.kernels.norm_act import (
    ACTIVATION_CODES,
    _activation,
    _activation_grad,
    _forward_statistics,
    _program_block,
    _tile,
    forward_outputs,
    forward_statistics,
    memory_format,
    nc_hw_view,
    on_input_device,
    plan,
)


@triton.jit
def _spade_grad_tile(
    x_ptr,  # N×C×HW input of the forward
    gamma_ptr,  # N×C×HW
    beta_ptr,  # N×C×HW
    dy_ptr,  # N×C×HW output gradient
    offs,  # BLOCK_C×BLOCK_HW element offsets (shared by all four tensors)
    mask,
    mean,  # BLOCK_C
    rstd,  # BLOCK_C
    negative_slope,
    ACTIVATION: tl.constexpr,
):
    """(x̂, 1 + γ, dz) of one tile, recomputed from the forward's inputs."""
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    scale = 1.0 + tl.load(gamma_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    beta = tl.load(beta_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    dy = tl.load(dy_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    x_hat = (x - mean[:, None]) * rstd[:, None]
    z = x_hat * scale + beta
    return x_hat, scale, dy * _activation_grad(z, negative_slope, ACTIVATION)


@triton.jit
def _spade_norm_act_fwd_kernel(
    x_ptr,  # N×C×HW input
    gamma_ptr,  # N×C×HW modulation scale (y uses 1 + γ), same strides as x
    beta_ptr,  # N×C×HW modulation shift, same strides as x
    y_ptr,  # N×C×HW output, same strides as x
    mean_ptr,  # G×C fp32 group means: written when COMPUTE_STATS, read otherwise
    var_ptr,  # G×C fp32 group biased variances, same
    running_mean_ptr,  # C (updated when UPDATE_RUNNING)
    running_var_ptr,  # C
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
    COMPUTE_STATS: tl.constexpr,  # the block covers whole groups: compute their statistics
    UPDATE_RUNNING: tl.constexpr,  # ... and blend them into the running ones (per channel)
    ACTIVATION: tl.constexpr,
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
    for n in range(n_begin, n_end):
        for hw_start in range(hw_begin, hw_end, BLOCK_HW):
            _, mask, offs = _tile(
                n, hw_start, hw_end, c_offs, c_mask, stride_n, stride_c, stride_hw, BLOCK_HW
            )
            x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
            gamma = tl.load(gamma_ptr + offs, mask=mask, other=0.0).to(tl.float32)
            beta = tl.load(beta_ptr + offs, mask=mask, other=0.0).to(tl.float32)
            x_hat = (x - mean[:, None]) * rstd[:, None]
            out = _activation(x_hat * (1.0 + gamma) + beta, negative_slope, ACTIVATION)
            tl.store(y_ptr + offs, out.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _spade_norm_act_bwd_kernel(
    x_ptr,  # N×C×HW input of the forward
    gamma_ptr,  # N×C×HW, same strides as x
    beta_ptr,  # N×C×HW, same strides as x
    dy_ptr,  # N×C×HW output gradient, same strides as x
    dx_ptr,  # N×C×HW input gradient (written when WRITE_DX)
    dgamma_ptr,  # N×C×HW (written by the first loop); its dtype is γ's
    dbeta_ptr,  # N×C×HW = dz (written by the first loop, read back by a split dx pass)
    mean_ptr,  # G×C fp32 statistics used by the forward
    var_ptr,  # G×C fp32
    sum_dxhat_ptr,  # fp32 Σdx̂: n_blocks×hw_blocks×C per block (COMPUTE_SUMS) or G×C per group
    sum_dxhat_xhat_ptr,  # fp32 Σdx̂·x̂, laid out as sum_dxhat_ptr
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
    BATCH_STATS: tl.constexpr,  # the forward normalized with batch statistics
    COMPUTE_SUMS: tl.constexpr,  # first loop: dγ, dβ and this block's sums (else read sums)
    WRITE_DX: tl.constexpr,
    ACTIVATION: tl.constexpr,
    BLOCK_C: tl.constexpr,
    BLOCK_HW: tl.constexpr,
):
    c_offs, c_mask, n_begin, n_end, hw_begin, hw_end = _program_block(
        N, C, HW, n_per_block, hw_per_block, BLOCK_C
    )
    stats = n_begin * stats_stride_n + c_offs
    mean = tl.load(mean_ptr + stats, mask=c_mask, other=0.0)
    rstd = 1.0 / tl.sqrt(tl.load(var_ptr + stats, mask=c_mask, other=1.0) + eps)

    mean_dxhat = tl.zeros([BLOCK_C], tl.float32)
    mean_dxhat_xhat = tl.zeros([BLOCK_C], tl.float32)
    if COMPUTE_SUMS:
        acc_dxhat = tl.zeros([BLOCK_C, BLOCK_HW], tl.float32)
        acc_dxhat_xhat = tl.zeros([BLOCK_C, BLOCK_HW], tl.float32)
        for n in range(n_begin, n_end):
            for hw_start in range(hw_begin, hw_end, BLOCK_HW):
                _, mask, offs = _tile(
                    n, hw_start, hw_end, c_offs, c_mask, stride_n, stride_c, stride_hw, BLOCK_HW
                )
                x_hat, scale, dz = _spade_grad_tile(
                    x_ptr, gamma_ptr, beta_ptr, dy_ptr, offs, mask, mean, rstd,
                    negative_slope, ACTIVATION,
                )  # fmt: skip
                dgamma = dz * x_hat
                tl.store(dgamma_ptr + offs, dgamma.to(dgamma_ptr.dtype.element_ty), mask=mask)
                tl.store(dbeta_ptr + offs, dz.to(dbeta_ptr.dtype.element_ty), mask=mask)
                dx_hat = dz * scale
                if BATCH_STATS:
                    acc_dxhat += dx_hat
                    acc_dxhat_xhat += dx_hat * x_hat
                else:  # running statistics: dx is elementwise, done in this same loop
                    dx = dx_hat * rstd[:, None]
                    tl.store(dx_ptr + offs, dx.to(dx_ptr.dtype.element_ty), mask=mask)
        if BATCH_STATS:
            sum_dxhat = tl.sum(acc_dxhat, 1)
            sum_dxhat_xhat = tl.sum(acc_dxhat_xhat, 1)
            block_sums = (tl.program_id(1) * tl.num_programs(2) + tl.program_id(2)) * C + c_offs
            tl.store(sum_dxhat_ptr + block_sums, sum_dxhat, mask=c_mask)
            tl.store(sum_dxhat_xhat_ptr + block_sums, sum_dxhat_xhat, mask=c_mask)
            mean_dxhat = sum_dxhat / group_size
            mean_dxhat_xhat = sum_dxhat_xhat / group_size
    elif BATCH_STATS:
        mean_dxhat = tl.load(sum_dxhat_ptr + stats, mask=c_mask, other=0.0) / group_size
        mean_dxhat_xhat = tl.load(sum_dxhat_xhat_ptr + stats, mask=c_mask, other=0.0) / group_size

    if BATCH_STATS and WRITE_DX:
        for n in range(n_begin, n_end):
            for hw_start in range(hw_begin, hw_end, BLOCK_HW):
                _, mask, offs = _tile(
                    n, hw_start, hw_end, c_offs, c_mask, stride_n, stride_c, stride_hw, BLOCK_HW
                )
                if COMPUTE_SUMS:  # same program as the first loop: recompute, never re-read
                    x_hat, scale, dz = _spade_grad_tile(
                        x_ptr, gamma_ptr, beta_ptr, dy_ptr, offs, mask, mean, rstd,
                        negative_slope, ACTIVATION,
                    )  # fmt: skip
                else:  # a later launch: dz is in dβ
                    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
                    x_hat = (x - mean[:, None]) * rstd[:, None]
                    gamma = tl.load(gamma_ptr + offs, mask=mask, other=0.0).to(tl.float32)
                    scale = 1.0 + gamma
                    dz = tl.load(dbeta_ptr + offs, mask=mask, other=0.0).to(tl.float32)
                dx_hat = dz * scale - mean_dxhat[:, None] - x_hat * mean_dxhat_xhat[:, None]
                dx = dx_hat * rstd[:, None]
                tl.store(dx_ptr + offs, dx.to(dx_ptr.dtype.element_ty), mask=mask)


# ----------------------------------------------------------------------------- host functions


def _like_input(x: torch.Tensor, t: torch.Tensor, name: str) -> torch.Tensor:
    """``t`` (γ, β or a gradient) checked against x's shape and made dense in x's layout."""
    if t.shape != x.shape:
        raise ValueError(
            f"{name} must have the input's shape {tuple(x.shape)}, got {tuple(t.shape)}"
        )
    return t.contiguous(memory_format=memory_format(x))


@on_input_device
def spade_norm_act_forward(
    x: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    per_instance: bool,
    use_batch_stats: bool,
    momentum: float,
    eps: float,
    activation: str,
    negative_slope: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``act(x̂·(1 + gamma) + beta)`` for N×C×H×W x, gamma, beta (fp32/fp16/bf16).

    Statistics as in ``norm_act_forward``: with ``use_batch_stats`` the input's (returned as
    fp32 G×C mean and biased variance; the running ones, if given, updated in place), else
    the C running ones (empty tensors returned). ``y`` has x's dtype and layout; gamma and
    beta are brought to that layout.
    """
    x, dims = nc_hw_view(x)
    n, c, hw, stride_n, stride_c, stride_hw = dims
    gamma, beta = _like_input(x, gamma, "gamma"), _like_input(x, beta, "beta")
    p = plan(dims, per_instance, x.device)
    y = torch.empty_like(x, memory_format=memory_format(x))
    mean, var, running, update_in_kernel = forward_statistics(
        x, dims, p, per_instance, use_batch_stats, running_mean, running_var, momentum
    )
    _spade_norm_act_fwd_kernel[p.grid](
        x, gamma, beta, y, mean, var,
        running.mean if update_in_kernel else mean,
        running.var if update_in_kernel else var,
        n, c, hw, stride_n, stride_c, stride_hw,
        c if use_batch_stats and per_instance else 0,
        p.n_per_block, p.hw_per_block,
        momentum, running.unbias if running is not None else 1.0, eps, negative_slope,
        COMPUTE_STATS=use_batch_stats and p.fused,
        UPDATE_RUNNING=update_in_kernel and p.fused,
        ACTIVATION=ACTIVATION_CODES[activation],
        BLOCK_C=p.block_c, BLOCK_HW=p.block_hw, num_warps=p.num_warps, enable_fp_fusion=True,
    )  # fmt: skip
    return forward_outputs(x, y, mean, var, running, per_instance, use_batch_stats)


@on_input_device
def spade_norm_act_backward(
    grad_y: torch.Tensor,
    x: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    mean: torch.Tensor,
    var: torch.Tensor,
    per_instance: bool,
    batch_stats: bool,
    eps: float,
    activation: str,
    negative_slope: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients (dx, dgamma, dbeta) of ``spade_norm_act_forward``; ``mean``/``var`` are the
    statistics it used (G×C batch statistics when ``batch_stats``, else the C running ones)."""
    x, dims = nc_hw_view(x)
    n, c, hw, stride_n, stride_c, stride_hw = dims
    gamma, beta = _like_input(x, gamma, "gamma"), _like_input(x, beta, "beta")
    grad_y = _like_input(x, grad_y, "grad_y")
    p = plan(dims, per_instance, x.device)
    layout = memory_format(x)
    dx = torch.empty_like(x, memory_format=layout)
    dgamma, dbeta = (
        torch.empty_like(gamma, memory_format=layout),
        torch.empty_like(beta, memory_format=layout),
    )
    block_sum_dxhat = torch.empty(p.num_blocks_nhw, c, device=x.device, dtype=torch.float32)
    block_sum_dxhat_xhat = torch.empty_like(block_sum_dxhat)
    mean = mean.detach().float().contiguous()
    var = var.detach().float().contiguous()

    def launch(sum_dxhat, sum_dxhat_xhat, compute_sums: bool, write_dx: bool) -> None:
        _spade_norm_act_bwd_kernel[p.grid](
            x, gamma, beta, grad_y, dx, dgamma, dbeta, mean, var, sum_dxhat, sum_dxhat_xhat,
            n, c, hw, stride_n, stride_c, stride_hw,
            c if batch_stats and per_instance else 0,
            p.n_per_block, p.hw_per_block, float(hw if per_instance else n * hw),
            eps, negative_slope,
            BATCH_STATS=batch_stats, COMPUTE_SUMS=compute_sums, WRITE_DX=write_dx,
            ACTIVATION=ACTIVATION_CODES[activation],
            BLOCK_C=p.block_c, BLOCK_HW=p.block_hw, num_warps=p.num_warps, enable_fp_fusion=True,
        )  # fmt: skip

    if batch_stats and not p.fused:
        launch(block_sum_dxhat, block_sum_dxhat_xhat, compute_sums=True, write_dx=False)
        groups = n if per_instance else 1
        launch(
            block_sum_dxhat.view(groups, -1, c).sum(1),
            block_sum_dxhat_xhat.view(groups, -1, c).sum(1),
            compute_sums=False,
            write_dx=True,
        )
    else:
        launch(block_sum_dxhat, block_sum_dxhat_xhat, compute_sums=True, write_dx=True)
    return dx, dgamma, dbeta
