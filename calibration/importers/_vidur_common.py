"""What every Vidur dataset shares: the citation, the software, and how its GPU names map to our ids."""

from __future__ import annotations

from idealrt.calibration.records import Provenance

ATTENTION_COMMIT = "e2d00e9afba96cec9f0e7ea560bbfc4a539fae6a"
COMMIT = "7d47513363ec447a741ac5e47241580b47724fbf"
CITATION = f"https://github.com/microsoft/vidur/tree/{COMMIT}/data/profiling"
SOFTWARE = "sarathi-serve (vLLM-derived) kernels, fp16, one GPU"
COMPUTE_METHOD = "torch profiler record_function, 2 warm-ups + 20 measured steps, median per shape"
# Vidur's compute/<gpu> folders name the GPU family only.
COMPUTE_HARDWARE = {"a100": "a100-sxm-80gb", "h100": "h100-sxm"}
COMPUTE_DEVICE = {
    "a100": "A100 (vidur 'a100': 80GB; SXM for a100_dgx, PCIe for a100_pairwise_nvlink)",
    "h100": "H100 (vidur 'h100': SKU not stated; SXM or NVL)",
}
SKU_NOTE = {
    "a100": "Vidur uses compute/a100 for both a100_dgx (A100-80GB SXM) and a100_pairwise_nvlink (A100-80GB PCIe); "
    "which of the two was profiled is not stated, SXM assumed.",
    "h100": "The H100 compute SKU is not stated (network folders are DGX H100 = SXM and H100 NVL); the M=1 weight "
    "streaming rate (~3.0 TB/s) fits either; SXM assumed.",
}


def compute_provenance(dataset: str, gpu: str, what: str, notes: str) -> Provenance:
    return Provenance(
        dataset=dataset,
        citation=CITATION,
        device=COMPUTE_DEVICE[gpu],
        hardware=COMPUTE_HARDWARE[gpu],
        software=SOFTWARE,
        date="2024-11-19 (commit)",
        method=COMPUTE_METHOD,
        notes=f"{what} {SKU_NOTE[gpu]} {notes}".strip(),
    )
