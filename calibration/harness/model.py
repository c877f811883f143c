"""A dense decoder-only transformer built from a `ModelSpec` with random weights, and greedy generation with a KV
cache. It executes the ops the simulator's graph counts (`simulator/graph.py`): fused QKV projection, rotary,
attention over the cache, output projection, plain or gated MLP (fused up/gate projection), norms, residual adds,
final norm over every position, LM head over the last position only, argmax.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from idealrt.calibration.harness.attention_mask import alibi_slopes, attention_mask
from idealrt.calibration.harness.timing import synchronize
from idealrt.simulator.errors import UserError
from idealrt.simulator.model.spec import ModelSpec

NORM_EPS = 1e-5
ROTARY_BASE = 10_000.0
Rotary = tuple[Tensor, Tensor] | None  # cos, sin for the positions of this pass: [new_tokens, 1, head_dim]


@dataclass
class LayerCache:
    keys: Tensor  # [batch, kv_heads, capacity, head_dim]
    values: Tensor


@dataclass
class Generation:
    tokens: Tensor  # [batch, output_tokens] greedy tokens: the prefill's, then one per decode step
    ttft_s: float
    decode_step_s: list[float]  # output_tokens - 1 entries; step k runs at KV context prompt + k


def build_transformer(spec: ModelSpec, device: torch.device | str, dtype: torch.dtype, seed: int = 0) -> Transformer:
    """Random weights drawn from a fixed seed (without disturbing the caller's RNG); `device="meta"` allocates
    nothing."""
    if spec.moe is not None:
        raise UserError(f"model '{spec.id}': the torch harness builds dense decoders only, not MoE layers")
    if spec.mla is not None:
        raise UserError(f"model '{spec.id}': the torch harness does not build multi-head latent attention (MLA)")
    if spec.position == "rotary" and spec.attention_head_dim % 2:
        raise UserError(f"model '{spec.id}': rotary positions need an even head_dim, got {spec.attention_head_dim}")
    device = torch.device(device)
    forked = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=forked):
        torch.manual_seed(seed)
        return Transformer(spec, device, dtype).eval()


def _norm(spec: ModelSpec, device: torch.device, dtype: torch.dtype) -> nn.Module:
    return norm_module(spec.norm, spec.hidden_size, device, dtype)


def norm_module(kind: str, width: int, device: torch.device, dtype: torch.dtype) -> nn.Module:
    """The norm layer the transformer calls (its weight a parameter, as a checkpoint's is)."""
    if kind == "layernorm":
        return nn.LayerNorm(width, eps=NORM_EPS, device=device, dtype=dtype)
    return nn.RMSNorm(width, eps=NORM_EPS, device=device, dtype=dtype)


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """x·cos + rotate_half(x)·sin over the whole head dimension; x: [batch, tokens, heads, head_dim]."""
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


class Attention(nn.Module):
    alibi_slopes: Tensor | None  # a non-persistent buffer: ALiBi's per-head slopes, None for other positions

    def __init__(self, spec: ModelSpec, window: int | None, device: torch.device, dtype: torch.dtype) -> None:
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = spec.num_heads, spec.kv_heads, spec.attention_head_dim
        self.window = window
        qkv_width = (self.heads + 2 * self.kv_heads) * self.head_dim
        self.qkv_proj = nn.Linear(spec.hidden_size, qkv_width, bias=spec.qkv_bias, device=device, dtype=dtype)
        self.out_proj = nn.Linear(
            self.heads * self.head_dim, spec.hidden_size, bias=spec.attn_out_bias, device=device, dtype=dtype
        )
        slopes = alibi_slopes(self.heads, device) if spec.position == "alibi" else None
        self.register_buffer("alibi_slopes", slopes, persistent=False)

    def forward(self, x: Tensor, start: int, rotary: Rotary, cache: LayerCache | None) -> Tensor:
        batch, new, _ = x.shape
        q_width, kv_width = self.heads * self.head_dim, self.kv_heads * self.head_dim
        q, k, v = self.qkv_proj(x).split([q_width, kv_width, kv_width], dim=-1)
        q = q.view(batch, new, self.heads, self.head_dim)
        k = k.view(batch, new, self.kv_heads, self.head_dim)
        v = v.view(batch, new, self.kv_heads, self.head_dim)
        if rotary is not None:
            q, k = apply_rotary(q, *rotary), apply_rotary(k, *rotary)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        first_key = 0
        if cache is not None:
            end = start + new
            cache.keys[:, :, start:end] = k
            cache.values[:, :, start:end] = v
            if self.window is not None:  # read only the keys some query of this pass can see
                first_key = max(0, start - self.window + 1)
            k, v = cache.keys[:, :, first_key:end], cache.values[:, :, first_key:end]
        elif start != 0:
            raise ValueError("a pass without a KV cache must start at position 0")
        mask, causal = attention_mask(start, new, first_key, self.window, self.alibi_slopes, x.dtype, x.device)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=causal, enable_gqa=self.kv_heads != self.heads
        )
        return self.out_proj(out.transpose(1, 2).reshape(batch, new, q_width))


class MLP(nn.Module):
    def __init__(self, spec: ModelSpec, device: torch.device, dtype: torch.dtype) -> None:
        super().__init__()
        self.gated = spec.gated_mlp
        up_width = (2 if self.gated else 1) * spec.ffn_dim  # gate and up projections fused into one GEMM
        self.up_proj = nn.Linear(spec.hidden_size, up_width, bias=spec.mlp_bias, device=device, dtype=dtype)
        self.down_proj = nn.Linear(spec.ffn_dim, spec.hidden_size, bias=spec.mlp_bias, device=device, dtype=dtype)
        self.kind = spec.mlp

    def forward(self, x: Tensor) -> Tensor:
        return self.down_proj(mlp_activation(self.kind, self.up_proj(x)))


def mlp_activation(kind: str, up: Tensor) -> Tensor:
    """The MLP's activation on the up projection's output ([..., 2f] gate‖up when gated, [..., f] otherwise)."""
    if kind == "swiglu":
        gate, value = up.chunk(2, dim=-1)
        return F.silu(gate) * value
    if kind == "geglu":
        gate, value = up.chunk(2, dim=-1)
        return F.gelu(gate, approximate="tanh") * value
    if kind == "gelu":
        return F.gelu(up, approximate="tanh")
    return F.relu(up)


class Block(nn.Module):
    def __init__(self, spec: ModelSpec, layer: int, device: torch.device, dtype: torch.dtype) -> None:
        super().__init__()
        self.parallel = spec.parallel_attention_mlp
        window = spec.sliding_window if spec.is_local_layer(layer) else None
        self.attn_norm = _norm(spec, device, dtype)
        self.attention = Attention(spec, window, device, dtype)
        self.mlp = MLP(spec, device, dtype)
        shared_norm = self.parallel and spec.norms_per_layer == 1
        self.mlp_norm = None if shared_norm else _norm(spec, device, dtype)
        sandwich = spec.norms_per_layer == 4 and not self.parallel
        self.attn_post_norm = _norm(spec, device, dtype) if sandwich else None
        self.mlp_post_norm = _norm(spec, device, dtype) if sandwich else None

    def forward(self, x: Tensor, start: int, rotary: Rotary, cache: LayerCache | None) -> Tensor:
        normed = self.attn_norm(x)
        attended = self.attention(normed, start, rotary, cache)
        if self.parallel:
            mlp_input = normed if self.mlp_norm is None else self.mlp_norm(x)
            return x + attended + self.mlp(mlp_input)
        if self.attn_post_norm is not None:
            attended = self.attn_post_norm(attended)
        x = x + attended
        assert self.mlp_norm is not None
        out = self.mlp(self.mlp_norm(x))
        if self.mlp_post_norm is not None:
            out = self.mlp_post_norm(out)
        return x + out


class Transformer(nn.Module):
    rotary_cos: Tensor | None  # non-persistent buffers: the rotary tables, None for other positions
    rotary_sin: Tensor | None

    def __init__(self, spec: ModelSpec, device: torch.device, dtype: torch.dtype) -> None:
        super().__init__()
        self.spec = spec
        h = spec.hidden_size
        self.embedding = nn.Embedding(spec.vocab_size, h, device=device, dtype=dtype)
        learned = spec.position == "learned"
        self.position_embedding = nn.Embedding(spec.max_context, h, device=device, dtype=dtype) if learned else None
        self.embedding_norm = _norm(spec, device, dtype) if spec.embedding_norm else None
        self.layers = nn.ModuleList(Block(spec, i, device, dtype) for i in range(spec.num_layers))
        self.final_norm = _norm(spec, device, dtype)
        self.lm_head = (
            None if spec.tied_embeddings else nn.Linear(h, spec.vocab_size, bias=False, device=device, dtype=dtype)
        )
        bias = torch.zeros(spec.vocab_size, device=device, dtype=dtype) if spec.lm_head_bias else None
        self.lm_head_bias = None if bias is None else nn.Parameter(bias)
        cos, sin = self._rotary_tables(device, dtype) if spec.position == "rotary" else (None, None)
        self.register_buffer("rotary_cos", cos, persistent=False)
        self.register_buffer("rotary_sin", sin, persistent=False)

    def _rotary_tables(self, device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        d = self.spec.attention_head_dim
        inverse = ROTARY_BASE ** (-torch.arange(0, d, 2, device=device, dtype=torch.float32) / d)
        angles = torch.outer(torch.arange(self.spec.max_context, device=device, dtype=torch.float32), inverse)
        angles = torch.cat((angles, angles), dim=-1)[:, None, :]  # [positions, 1, head_dim]
        return angles.cos().to(dtype), angles.sin().to(dtype)

    def new_cache(self, batch: int, capacity: int) -> list[LayerCache]:
        """A preallocated KV cache of `capacity` positions per sequence, one entry per layer."""
        spec, weight = self.spec, self.embedding.weight
        shape = (batch, spec.kv_heads, capacity, spec.attention_head_dim)
        return [LayerCache(weight.new_empty(shape), weight.new_empty(shape)) for _ in self.layers]

    def forward(self, token_ids: Tensor, cache: list[LayerCache] | None = None, start: int = 0) -> Tensor:
        """Logits of the last position, [batch, vocab]; `token_ids` [batch, new] sit at positions start…"""
        new = token_ids.shape[1]
        if start + new > self.spec.max_context:
            raise UserError(
                f"model '{self.spec.id}': {start + new} positions exceed max_context {self.spec.max_context}"
            )
        x = self.embedding(token_ids)
        if self.position_embedding is not None:
            x = x + self.position_embedding(torch.arange(start, start + new, device=token_ids.device))
        if self.embedding_norm is not None:
            x = self.embedding_norm(x)
        rotary: Rotary = None
        if self.rotary_cos is not None and self.rotary_sin is not None:  # set together
            rotary = (self.rotary_cos[start : start + new], self.rotary_sin[start : start + new])
        for index, layer in enumerate(self.layers):
            x = layer(x, start, rotary, None if cache is None else cache[index])
        last = self.final_norm(x)[:, -1]
        weight = self.embedding.weight if self.lm_head is None else self.lm_head.weight
        return F.linear(last, weight, self.lm_head_bias)


@torch.inference_mode()
def generate(
    model: Transformer, batch: int, prompt_tokens: int, output_tokens: int, prompt: Tensor | None = None, seed: int = 0
) -> Generation:
    """Prefill over the prompt (random token ids unless given), then output_tokens − 1 cached decode steps.

    Each pass ends with the greedy token in hand (device synchronized), as a server would before returning it.
    """
    if output_tokens < 1 or prompt_tokens < 1 or batch < 1:
        raise UserError("batch, prompt_tokens and output_tokens must all be >= 1")
    device = model.embedding.weight.device
    if prompt is None:
        generator = torch.Generator().manual_seed(seed)
        prompt = torch.randint(0, model.spec.vocab_size, (batch, prompt_tokens), generator=generator)
    prompt = prompt.to(device)
    cache = model.new_cache(batch, prompt_tokens + output_tokens)
    synchronize(device)
    begin = time.perf_counter()
    token = model(prompt, cache, start=0).argmax(dim=-1)
    synchronize(device)
    ttft = time.perf_counter() - begin
    tokens, steps = [token], []
    for step in range(1, output_tokens):
        begin = time.perf_counter()
        token = model(token[:, None], cache, start=prompt_tokens + step - 1).argmax(dim=-1)
        synchronize(device)
        steps.append(time.perf_counter() - begin)
        tokens.append(token)
    return Generation(tokens=torch.stack(tokens, dim=1), ttft_s=ttft, decode_step_s=steps)


def parameter_count(model: nn.Module) -> int:
    return sum(math.prod(p.shape) for p in model.parameters())
