"""Second, independent count: XLA's cost analysis of a jax transformer block against our op formulas.

XLA executes attention as written here (scores for every pair, masked afterwards), so the comparison is with our
naive-attention variant. XLA also counts the elementwise work our vector-op estimates approximate, hence 2 %."""

from __future__ import annotations

import functools

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

from idealrt.simulator.counting import CountingOptions, count_pass  # noqa: E402
from idealrt.simulator.deployment import Deployment  # noqa: E402
from idealrt.simulator.hardware import load_hardware  # noqa: E402
from idealrt.simulator.model.spec import ModelSpec  # noqa: E402
from idealrt.simulator.structure import Phase  # noqa: E402


def _norm(x, weight, bias, kind):  # type: ignore[no-untyped-def]
    if kind == "rmsnorm":
        return x * jax.lax.rsqrt(jnp.mean(x * x, -1, keepdims=True) + 1e-6) * weight
    mean = jnp.mean(x, -1, keepdims=True)
    var = jnp.mean((x - mean) ** 2, -1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + 1e-5) * weight + bias


def block(params, x, *, spec: ModelSpec):  # type: ignore[no-untyped-def]
    """One pre-norm decoder layer over a full prompt (prefill), written plainly."""
    batch, seq, _ = x.shape
    heads, kv_heads, dim = spec.num_heads, spec.kv_heads, spec.attention_head_dim
    y = _norm(x, params["norm1"], params.get("norm1_b"), spec.norm)
    qkv = y @ params["w_qkv"] + params.get("b_qkv", 0.0)
    q, k, v = jnp.split(qkv, [heads * dim, (heads + kv_heads) * dim], axis=-1)
    q = q.reshape(batch, seq, heads, dim)
    k = jnp.repeat(k.reshape(batch, seq, kv_heads, dim), heads // kv_heads, axis=2)
    v = jnp.repeat(v.reshape(batch, seq, kv_heads, dim), heads // kv_heads, axis=2)
    scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(dim)
    scores = jnp.where(jnp.tril(jnp.ones((seq, seq), bool)), scores, -1e30)
    attn = jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(scores, -1), v).reshape(batch, seq, heads * dim)
    x = x + attn @ params["w_o"] + params.get("b_o", 0.0)
    y = _norm(x, params["norm2"], params.get("norm2_b"), spec.norm)
    up = y @ params["w_up"] + params.get("b_up", 0.0)
    if spec.gated_mlp:
        gate, up = jnp.split(up, 2, axis=-1)
        hidden = jax.nn.silu(gate) * up
    else:
        hidden = jax.nn.gelu(up)
    return x + hidden @ params["w_down"] + params.get("b_down", 0.0)


def param_shapes(spec: ModelSpec) -> dict[str, jax.ShapeDtypeStruct]:
    h, dim, f = spec.hidden_size, spec.attention_head_dim, spec.ffn_dim
    qkv = (spec.num_heads + 2 * spec.kv_heads) * dim
    shapes = {
        "norm1": (h,),
        "norm2": (h,),
        "w_qkv": (h, qkv),
        "w_o": (spec.num_heads * dim, h),
        "w_up": (h, (2 if spec.gated_mlp else 1) * f),
        "w_down": (f, h),
    }
    if spec.norm == "layernorm":
        shapes |= {"norm1_b": (h,), "norm2_b": (h,)}
    if spec.qkv_bias:
        shapes |= {"b_qkv": (qkv,), "b_o": (h,), "b_up": (shapes["w_up"][1],), "b_down": (h,)}
    return {name: jax.ShapeDtypeStruct(shape, jnp.float32) for name, shape in shapes.items()}


SPECS = {
    "llama-like (GQA, RMSNorm, SwiGLU)": ModelSpec(
        id="xla-llama",
        name="x",
        source="test",
        num_layers=1,
        hidden_size=512,
        num_heads=8,
        num_kv_heads=2,
        ffn_dim=1536,
        mlp="swiglu",
        norm="rmsnorm",
        position="none",
        vocab_size=1000,
        max_context=4096,
        tied_embeddings=False,
    ),
    "gpt-like (MHA, LayerNorm, GELU, biases)": ModelSpec(
        id="xla-gpt",
        name="x",
        source="test",
        num_layers=1,
        hidden_size=768,
        num_heads=12,
        ffn_dim=3072,
        mlp="gelu",
        norm="layernorm",
        position="none",
        vocab_size=1000,
        max_context=4096,
        tied_embeddings=True,
        qkv_bias=True,
        attn_out_bias=True,
        mlp_bias=True,
    ),
}


def our_layer(spec: ModelSpec, batch: int, seq: int) -> tuple[float, float]:
    deployment = Deployment(model=spec, hardware=load_hardware("h100-sxm"), weights_dtype="fp32")
    one = np.ones(1)
    counts = count_pass(
        deployment, Phase.PREFILL, batch * one, seq * one, seq * one, CountingOptions(naive_attention=True)
    )
    (piece,) = counts.layers.values()
    ops = [op_counts for _, op_counts in piece.op_counts()]
    flops = sum(float(c["flops"][0]) for c in ops)
    moved = sum(float(c["bytes_read"][0] + c["bytes_written"][0]) for c in ops)
    return flops, moved


def xla_cost(function, *args) -> dict[str, float]:  # type: ignore[no-untyped-def]
    analysis = jax.jit(function).lower(*args).compile().cost_analysis()
    return analysis[0] if isinstance(analysis, list) else analysis


@pytest.mark.parametrize("label", list(SPECS))
@pytest.mark.parametrize(("batch", "seq"), [(1, 64), (2, 256)])
def test_block_flops_agree_with_xla(label: str, batch: int, seq: int) -> None:
    spec = SPECS[label]
    x = jax.ShapeDtypeStruct((batch, seq, spec.hidden_size), jnp.float32)
    xla = xla_cost(functools.partial(block, spec=spec), param_shapes(spec), x)
    ours, our_bytes = our_layer(spec, batch, seq)
    assert ours == pytest.approx(xla["flops"], rel=0.02)
    # Our bytes are what a fused implementation must move at least; XLA's unfused CPU program moves more.
    assert our_bytes <= xla["bytes accessed"]


@pytest.mark.parametrize(("m", "n", "k"), [(8, 4096, 4096), (128, 1536, 512), (333, 777, 999)])
def test_gemm_bytes_and_flops_equal_xla(m: int, n: int, k: int) -> None:
    """fp32, because XLA on a CPU converts bf16 operands to fp32 first (extra converts would be counted)."""
    from idealrt.simulator.evaluate import evaluate
    from idealrt.simulator.ops import symbols as sym
    from idealrt.simulator.ops.gemm import linear

    op = linear("gemm", "test", sym.b, n, k)
    values = {sym.b: m, sym.w_bytes: 4.0, sym.a_bytes: 4.0, sym.p_bytes: 4.0}
    xla = xla_cost(
        lambda a, w: a @ w, jax.ShapeDtypeStruct((m, k), jnp.float32), jax.ShapeDtypeStruct((k, n), jnp.float32)
    )
    assert float(evaluate(op.flops, values)) == pytest.approx(xla["flops"], rel=1e-7)  # XLA sums in float32
    assert float(evaluate(op.bytes_moved, values)) == xla["bytes accessed"]
