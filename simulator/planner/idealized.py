"""The idealized runtime of Narayanan et al. (NeurIPS 2023), "Cheaply Estimating Inference Efficiency Metrics for
Autoregressive Transformer APIs" — computed from the simulator instead of measured.

At batch 1 a request of p prompt tokens and o output tokens takes

    runtime(p, o) = α_p + β·(o − 1)

α_p  prompt encoding plus the first token: the simulated ttft at prompt p, tabulated at PROMPT_SIZES (the paper's
     sizes). Between them, as HELM computes it (stanford-crfm/helm, helm/benchmark/metrics/: basic_metrics.py,
     efficiency_metrics.py in later versions): the smallest tabulated size k ≥ p, scaled by p / k; above the
     largest, α_1920 · p / 1920. The physical interpolation (linear between the tabulated sizes) is the option
     `interpolation="linear"`.
β    time per additional output token. A simulated decode step grows (weakly) with its KV context, so β is defined
     as the paper fitted it from measurements: the least-squares slope through the origin of (e2e − α_p) against
     (o − 1) over the paper's grid PROMPT_SIZES × OUTPUT_TOKENS,  β = Σ (o − 1)(e2e − α_p) / Σ (o − 1)².
     Since e2e − α_p = (o − 1)·tpot, β is the mean of the simulated tpot weighted by (o − 1)², and the
     decomposition's error on the grid is at most the relative spread of tpot (the KV-cache read growing with the
     context: a few % for a 6B model at 2k tokens, which the paper's constant β does not represent).

Devices: by default the layouts the paper profiled (`paper_models.PAPER_LAYOUTS`, with sources); `layout="fewest"`
is today's rule: the fewest devices that hold the model and the longest request the paper serves at batch 1
(prompt + output = 2048 tokens, its models' sequence length), tensor parallelism inside one server in powers of two
(as Megatron splits an 8-GPU server), pipeline stages of full servers beyond that. Architectures: by default the
paper's stand-ins (`simulator/model/paper_variants/`), `architecture="published"` for the catalog entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from idealrt.hardware_specs.schema import HardwareSpec
from idealrt.simulator.deployment import Deployment
from idealrt.simulator.errors import UserError
from idealrt.simulator.hardware import load_hardware
from idealrt.simulator.model.catalog import load_model
from idealrt.simulator.model.spec import ModelSpec
from idealrt.simulator.placement import fewest_devices, memory_for
from idealrt.simulator.planner.cost import RequestCost, device_price, request_cost
from idealrt.simulator.planner.paper_models import PAPER_LAYOUTS, PAPER_MODELS, PAPER_NAMES, paper_architecture
from idealrt.simulator.profile import Profile, resolve_profile
from idealrt.simulator.simulation import simulate

PROMPT_SIZES = (
    1,
    16,
    32,
    64,
    128,
    192,
    256,
    320,
    384,
    428,
    472,
    512,
    576,
    640,
    704,
    768,
    832,
    896,
    960,
    1024,
    1152,
    1280,
    1408,
    1536,
    1664,
    1792,
    1920,
)
OUTPUT_TOKENS = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64)
PAPER_SEQUENCE_LENGTH = 2048
from idealrt.simulator.planner.options import PAPER_WEIGHTS_DTYPE  # noqa: E402  (re-exported)

Interpolation = Literal["helm", "linear"]
Layout = Literal["paper", "fewest"]
Architecture = Literal["paper", "published"]
INTERPOLATIONS: tuple[Interpolation, ...] = ("helm", "linear")
LAYOUTS: tuple[Layout, ...] = ("paper", "fewest")
ARCHITECTURES: tuple[Architecture, ...] = ("paper", "published")


@dataclass(frozen=True)
class IdealizedRuntime:
    """α_p and β of one deployment under one profile, and how well α_p + β·(o − 1) reproduces the simulation."""

    deployment: Deployment
    profile: Profile
    prompt_sizes: np.ndarray
    alpha_s: np.ndarray  # α at each of prompt_sizes
    beta_s: float
    alpha_busy_s: np.ndarray  # the part of α_p an average device computes (the rest it waits)
    beta_busy_s: float  # the same for β
    max_relative_error: float  # max |α_p + β(o − 1) − e2e| / e2e over the grid
    interpolation: Interpolation = "helm"

    def alpha(self, prompt: object, extrapolate: bool = False) -> np.ndarray:
        """α at any prompt size ≥ 1. `helm`: the smallest tabulated size k ≥ p scaled by p / k, beyond 1920
        α_1920 · p / 1920. `linear`: linear between the tabulated sizes, beyond 1920 only with `extrapolate`,
        continuing the last segment."""
        return self._interpolate(self.alpha_s, prompt, extrapolate)

    def idealized_runtime(self, prompt: object, output: object, extrapolate: bool = False) -> np.ndarray:
        """α(p) + β·(o − 1) in seconds."""
        return self.alpha(prompt, extrapolate) + self.beta_s * (_outputs(output) - 1)

    def busy_s(self, prompt: object, output: object, extrapolate: bool = False) -> np.ndarray:
        """Seconds an average device computes during the request (the same decomposition applied to busy time)."""
        alpha_busy = self._interpolate(self.alpha_busy_s, prompt, extrapolate)
        return alpha_busy + self.beta_busy_s * (_outputs(output) - 1)

    def alpha_by_size(self) -> dict[str, float]:
        """{'1': α_1, '16': α_16, …}: the public JSON form."""
        return {str(int(p)): float(a) for p, a in zip(self.prompt_sizes, self.alpha_s, strict=True)}

    def _interpolate(self, table: np.ndarray, prompt: object, extrapolate: bool) -> np.ndarray:
        p = np.asarray(prompt, dtype=np.float64)
        low, high = self.prompt_sizes[0], self.prompt_sizes[-1]
        if np.any(p < low):
            raise UserError(f"prompt must be ≥ {low:g} token (got {np.min(p):g})")
        if self.interpolation == "helm":
            return helm_interpolation(self.prompt_sizes, table, p)
        if np.any(p > high) and not extrapolate:
            raise UserError(
                f"prompt {np.max(p):g} tokens is outside the paper's prompt sizes [{low:g}, {high:g}]; "
                f"extrapolate explicitly (extrapolate=True / --extrapolate) to continue α linearly"
            )
        inside = np.interp(p, self.prompt_sizes, table)
        slope = (table[-1] - table[-2]) / (self.prompt_sizes[-1] - self.prompt_sizes[-2])
        return np.where(p > high, table[-1] + slope * (p - high), inside)


def helm_interpolation(sizes: np.ndarray, table: np.ndarray, prompt: np.ndarray) -> np.ndarray:
    """HELM's α_p (`_compute_estimated_time_from_prompt_size_and_num_output_tokens`): the entry of the smallest
    tabulated size k ≥ p, times p / k; above the largest size K, α_K · p / K (prompt encoding assumed to run at
    the throughput of the next tabulated size)."""
    index = np.minimum(np.searchsorted(sizes, prompt, side="left"), len(sizes) - 1)
    return table[index] * prompt / sizes[index]


def _outputs(output: object) -> np.ndarray:
    o = np.asarray(output, dtype=np.float64)
    if np.any(o < 1):
        raise UserError(f"output must be ≥ 1 token (got {np.min(o):g})")
    return o


def decompose(deployment: Deployment, profile: Profile, interpolation: Interpolation = "helm") -> IdealizedRuntime:
    """α_p and β from one vectorized simulation over the paper's grid (batch 1)."""
    sizes = np.asarray(PROMPT_SIZES, dtype=np.float64)
    outputs = np.asarray(OUTPUT_TOKENS, dtype=np.float64)
    prompt, output = (grid.ravel() for grid in np.meshgrid(sizes, outputs, indexing="ij"))
    sim = simulate(deployment, profile, 1, prompt, output)
    shape = (len(sizes), len(outputs))
    steps = (output - 1).reshape(shape)
    e2e = sim.e2e_s.reshape(shape)
    alpha = sim.ttft_s.reshape(shape)[:, 0]  # ttft does not depend on the output length
    beta = _slope_through_origin(steps, e2e - alpha[:, None])
    # Busy time along the pipeline path, shared by pp stages: what an average device computes.
    prefill_busy = np.asarray(sim.prefill.device_busy).reshape(shape)[:, 0] / deployment.pp
    decode_busy = np.sum(sim.decode_step_weights * sim.decode.device_busy, axis=-1).reshape(shape) / deployment.pp
    predicted = alpha[:, None] + beta * steps
    return IdealizedRuntime(
        deployment=deployment,
        profile=profile,
        prompt_sizes=sizes,
        alpha_s=alpha,
        beta_s=beta,
        alpha_busy_s=prefill_busy,
        beta_busy_s=_slope_through_origin(steps, decode_busy),
        max_relative_error=float(np.max(np.abs(predicted - e2e) / e2e)),
        interpolation=interpolation,
    )


def _slope_through_origin(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sum(x * y) / np.sum(x * x))


def fewest_deployment(
    model: ModelSpec, hardware: HardwareSpec, profile: Profile, weights_dtype: str = PAPER_WEIGHTS_DTYPE
) -> Deployment:
    """The fewest devices holding the model and a 2048-token request at batch 1 (the longest prompt the paper
    serves, 1920 tokens, plus outputs up to 2048): `fewest_devices`, today's rule."""
    base = Deployment(model=model, hardware=hardware, weights_dtype=weights_dtype)
    prompt = PROMPT_SIZES[-1]
    layout = fewest_devices(base, profile, 1, prompt, PAPER_SEQUENCE_LENGTH - prompt)
    if layout is None:
        per_node = hardware.devices_per_node
        raise UserError(
            f"{model.id} does not fit on any layout of {hardware.id} (tensor parallelism inside a "
            f"{per_node}-device server, pipeline stages of full servers beyond)"
        )
    return layout


@dataclass(frozen=True)
class PaperDeployment:
    deployment: Deployment
    layout_source: str
    architecture_source: str


def paper_deployment(
    model_id: str,
    hardware: HardwareSpec,
    profile: Profile,
    weights_dtype: str = PAPER_WEIGHTS_DTYPE,
    layout: Layout = "paper",
    architecture: Architecture = "paper",
) -> PaperDeployment:
    """A paper model on this hardware: the paper's layout (`PAPER_LAYOUTS`) or the fewest devices, and the paper's
    stand-in architecture (its vocabulary padded for the layout's tp) or the published one."""
    if layout not in LAYOUTS:
        raise UserError(f"layout '{layout}' is not one of {', '.join(LAYOUTS)}")
    if architecture not in ARCHITECTURES:
        raise UserError(f"architecture '{architecture}' is not one of {', '.join(ARCHITECTURES)}")

    def spec_at(tp: int) -> tuple[ModelSpec, str]:
        if architecture == "published":
            model = load_model(model_id)
            return model, f"published ({model.source})"
        return paper_architecture(model_id, tp)

    if layout == "fewest":
        # Searched with the vocabulary padded for a whole server's tp (the most rows), then padded for the tp found.
        searched, _ = spec_at(hardware.devices_per_node)
        found = fewest_deployment(searched, hardware, profile, weights_dtype)
        model, architecture_source = spec_at(found.tp)
        deployment = Deployment(model=model, hardware=hardware, tp=found.tp, pp=found.pp, weights_dtype=weights_dtype)
        return PaperDeployment(
            deployment, "fewest devices that hold a 2048-token request (--layout fewest)", architecture_source
        )
    if model_id not in PAPER_LAYOUTS:
        raise UserError(f"{model_id} is not a model of the paper ({', '.join(PAPER_LAYOUTS)}); use --layout fewest")
    paper = PAPER_LAYOUTS[model_id]
    if paper.tp > hardware.devices_per_node:
        raise UserError(
            f"the paper's layout of {model_id} (tp {paper.tp}) needs {paper.tp} devices in a server; {hardware.id} "
            f"has {hardware.devices_per_node}: use --layout fewest"
        )
    model, architecture_source = spec_at(paper.tp)
    deployment = Deployment(model=model, hardware=hardware, tp=paper.tp, pp=paper.pp, weights_dtype=weights_dtype)
    prompt = PROMPT_SIZES[-1]
    memory = memory_for(deployment, profile, 1, prompt, PAPER_SEQUENCE_LENGTH - prompt)
    if not bool(memory.fits[0]):
        raise UserError(
            f"the paper's layout of {model_id} ({paper.devices} × {hardware.id}, tp {paper.tp} × pp {paper.pp}) "
            f"needs {float(memory.total_bytes[0]) / 1e9:.1f} GB per device, has "
            f"{float(memory.capacity_bytes) / 1e9:.1f} GB: use --layout fewest"
        )
    return PaperDeployment(deployment, f"the paper's: {paper.source}", architecture_source)


def idealized_for(
    model_id: str,
    hardware: HardwareSpec,
    profile: Profile,
    weights_dtype: str = PAPER_WEIGHTS_DTYPE,
    layout: Layout = "paper",
    architecture: Architecture = "paper",
    interpolation: Interpolation = "helm",
) -> IdealizedRuntime:
    """A paper model's deployment on this hardware (`paper_deployment`), decomposed into α_p and β."""
    placed = paper_deployment(model_id, hardware, profile, weights_dtype, layout, architecture)
    return decompose(placed.deployment, profile, interpolation)


# --- the paper's comparison: its models, its price, example requests -------------------------------------------

PAPER_USD_PER_A100_HOUR = 4.096
EXAMPLE_REQUESTS = ((512, 32), (1920, 64))


@dataclass(frozen=True)
class PaperComparison:
    hardware: HardwareSpec
    profile: Profile
    profile_note: str
    price_usd_per_device_hour: float
    price_note: str
    runtimes: list[IdealizedRuntime]  # the models that fit, in PAPER_MODELS order
    records: list[dict[str, Any]]  # one per model (the `paper --json` objects), unplaced models included


def paper_price(hardware: HardwareSpec, override_usd_per_hour: float | None = None) -> tuple[float, str]:
    """The price per device-hour and where it comes from: a given price, the paper's A100 price, the catalog's."""
    if override_usd_per_hour is not None:
        price = device_price(hardware, override_usd_per_hour)
        return price, f"${price:g} per device-hour (given)"
    if hardware.id.startswith("a100"):
        catalog = "none" if hardware.price_usd_per_hour is None else f"${hardware.price_usd_per_hour:g}"
        return PAPER_USD_PER_A100_HOUR, (
            f"the paper's ${PAPER_USD_PER_A100_HOUR:g} per A100-hour (catalog on-demand: {catalog}; "
            f"--price-usd-per-hour to change)"
        )
    price = device_price(hardware)
    return price, f"catalog on-demand ${price:g} per device-hour ({hardware.price_date})"


def idealized_cost(
    runtime: IdealizedRuntime,
    prompt: int,
    output: int,
    price_usd_per_hour: float | None = None,
    extrapolate: bool = False,
) -> RequestCost:
    """Dollars and joules of one batch-1 request at its idealized runtime: α(p) is charged to the input tokens,
    β·(o − 1) to the output tokens."""
    deployment = runtime.deployment
    alpha = float(runtime.alpha(prompt, extrapolate))
    total = float(runtime.idealized_runtime(prompt, output, extrapolate))
    return request_cost(
        deployment.hardware,
        deployment.n_accelerators,
        prefill_s=alpha,
        decode_s=total - alpha,
        input_tokens=prompt,
        output_tokens=output,
        busy_s=float(runtime.busy_s(prompt, output, extrapolate)),
        price_usd_per_hour=price_usd_per_hour,
    )


def request_record(runtime: IdealizedRuntime, prompt: int, output: int, price: float) -> dict[str, Any]:
    cost = idealized_cost(runtime, prompt, output, price)
    return {
        "prompt_tokens": prompt,
        "output_tokens": output,
        "runtime_s": cost.runtime_s,
        "usd": cost.usd,
        "usd_per_million_input_tokens": cost.usd_per_million_input_tokens,
        "usd_per_million_output_tokens": cost.usd_per_million_output_tokens,
        "usd_per_million_tokens": cost.usd_per_million_tokens,
        "utilization": cost.utilization,
        "energy_j": cost.energy_j,
        "energy_busy_j": cost.energy_busy_j,
    }


def paper_comparison(
    hardware: str | HardwareSpec,
    profile: str | Profile,
    price_usd_per_hour: float | None = None,
    models: tuple[str, ...] = PAPER_MODELS,
    weights_dtype: str = PAPER_WEIGHTS_DTYPE,
    layout: Layout = "paper",
    architecture: Architecture = "paper",
    interpolation: Interpolation = "helm",
) -> PaperComparison:
    """The paper's table for each model: its devices, α_p, β, idealized runtime and cost of EXAMPLE_REQUESTS.
    `profile` is a name (`auto` included), a path, or a Profile."""
    if interpolation not in INTERPOLATIONS:
        raise UserError(f"interpolation '{interpolation}' is not one of {', '.join(INTERPOLATIONS)}")
    spec = load_hardware(hardware) if isinstance(hardware, str) else hardware
    if isinstance(profile, Profile):
        chosen, profile_note = profile, f"profile '{profile.name}' ({profile.kind})"
    else:
        chosen, profile_note = resolve_profile(profile, spec)
    price, price_note = paper_price(spec, price_usd_per_hour)
    runtimes, records = [], []
    for model_id in models:
        record: dict[str, Any] = {
            "model": model_id,
            "paper_name": PAPER_NAMES.get(model_id, model_id),
            "hardware": spec.id,
            "profile": chosen.name,
            "profile_note": profile_note,
            "weights_dtype": weights_dtype,
            "layout": layout,
            "architecture": architecture,
            "interpolation": interpolation,
        }
        try:
            placed = paper_deployment(model_id, spec, chosen, weights_dtype, layout, architecture)
        except UserError as exc:
            records.append(
                record
                | {"n_accelerators": None, "tp": None, "pp": None, "beta_s": None, "alpha_s": None, "error": str(exc)}
            )
            continue
        runtime = decompose(placed.deployment, chosen, interpolation)
        d = runtime.deployment
        runtimes.append(runtime)
        records.append(
            record
            | {
                "n_accelerators": d.n_accelerators,
                "tp": d.tp,
                "pp": d.pp,
                "layout_source": placed.layout_source,
                "architecture_source": placed.architecture_source,
                "num_layers": d.model.num_layers,
                "hidden_size": d.model.hidden_size,
                "num_heads": d.model.num_heads,
                "ffn_dim": d.model.ffn_dim,
                "mlp": d.model.mlp,
                "vocab_size": d.model.vocab_size,
                "beta_s": runtime.beta_s,
                "alpha_s": runtime.alpha_by_size(),
                "decomposition_max_relative_error": runtime.max_relative_error,
                "price_usd_per_device_hour": price,
                "price_note": price_note,
                "requests": [request_record(runtime, p, o, price) for p, o in EXAMPLE_REQUESTS],
            }
        )
    return PaperComparison(spec, chosen, profile_note, price, price_note, runtimes, records)
