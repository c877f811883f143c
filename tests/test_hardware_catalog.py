"""The hardware catalog: one YAML file per accelerator, every figure dense, per direction and sourced.

Read as a specification of what the shipped data promises to the simulator.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from idealrt.hardware_specs import HardwareSpec, hardware_ids
from idealrt.hardware_specs.schema import SOURCED_FIELDS
from idealrt.simulator.errors import UserError
from idealrt.simulator.hardware import CATALOG_DIR, load_hardware

REQUIRED_IDS = [
    "v100-sxm-32gb",
    "a10g",
    "a100-sxm-40gb",
    "a100-sxm-80gb",
    "a100-pcie-80gb",
    "l4",
    "l40s",
    "h100-sxm",
    "h100-pcie",
    "h200-sxm",
    "b200",
    "mi300x",
    "mi325x",
    "gaudi3",
    "tpu-v5e",
    "tpu-v5p",
    "tpu-v6e",
]
EXTRA_IDS = [
    "h100-nvl",
    "gb200",
    "mi250x",
    "gaudi2",
    "tpu-v4",
    "trainium1",
    "trainium2",
    "inferentia2",
    "apple-m2-ultra",
    "apple-m3-max",
]
CATALOG_FILES = sorted(CATALOG_DIR.glob("*.yaml"))
ALL_IDS = [path.stem for path in CATALOG_FILES]


def raw(hw_id: str) -> dict:
    """The catalog file of `hw_id` as plain data, for building variants in tmp_path."""
    return yaml.safe_load((CATALOG_DIR / f"{hw_id}.yaml").read_text())


def write_spec(tmp_path: Path, data: dict, name: str = "custom.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# --- the catalog is complete and every file is valid -------------------------------------------------------------


@pytest.mark.parametrize("hw_id", REQUIRED_IDS + EXTRA_IDS)
def test_every_catalog_id_loads_by_id(hw_id):
    spec = load_hardware(hw_id)
    assert spec.id == hw_id


def test_hardware_ids_lists_exactly_the_shipped_files_sorted():
    ids = hardware_ids()
    assert ids == sorted(ids)
    assert set(REQUIRED_IDS + EXTRA_IDS) <= set(ids)
    assert len(ids) == len(CATALOG_FILES)


@pytest.mark.parametrize("path", CATALOG_FILES, ids=lambda p: p.stem)
def test_every_yaml_validates_and_its_stem_is_its_id(path):
    data = yaml.safe_load(path.read_text())
    spec = HardwareSpec.model_validate(data)
    assert spec.id == path.stem


@pytest.mark.parametrize("hw_id", ALL_IDS)
def test_every_present_figure_names_a_source(hw_id):
    spec = load_hardware(hw_id)
    for field in SOURCED_FIELDS:
        if getattr(spec, field) is not None:
            assert spec.sources.get(field, "").strip(), f"{hw_id}: {field} has no source"
    # and no source is left dangling for a figure that is absent (a sign of a deleted number)
    for key in spec.sources:
        assert key in SOURCED_FIELDS, f"{hw_id}: sources.{key} is not a figure"
        assert getattr(spec, key) is not None, f"{hw_id}: sources.{key} cites an absent figure"


@pytest.mark.parametrize("hw_id", ALL_IDS)
def test_a_price_always_comes_with_its_date(hw_id):
    spec = load_hardware(hw_id)
    if spec.price_usd_per_hour is not None:
        assert spec.price_date
        assert "price_usd_per_hour" in spec.sources


# --- peaks are dense, never the sparse headline -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hw_id", "dtype", "sparse_headline"),
    [
        ("h100-sxm", "bf16", 1979),  # NVIDIA product page "1,979 TFLOPS*" (with sparsity)
        ("h100-sxm", "fp8", 3958),
        ("h100-sxm", "tf32", 989),
        ("h200-sxm", "bf16", 1979),
        ("h100-pcie", "bf16", 1513),
        ("l4", "bf16", 242),
        ("l4", "fp8", 485),
        ("a100-sxm-80gb", "bf16", 624),
        ("b200", "bf16", 4500),
        ("b200", "fp4", 18000),
        ("gb200", "fp8", 10000),
        ("mi300x", "fp16", 2614.9),  # AMD quotes sparsity separately at 2x
    ],
)
def test_dense_peak_is_half_the_sparse_headline(hw_id, dtype, sparse_headline):
    dense = load_hardware(hw_id).peak_tflops[dtype]
    assert dense < sparse_headline
    assert dense == pytest.approx(sparse_headline / 2, rel=0.005)


def test_h100_sxm_bf16_is_989_5_dense_not_1979():
    spec = load_hardware("h100-sxm")
    assert spec.peak_tflops["bf16"] == 989.5
    assert spec.peak_flops_per_s("bf16") == pytest.approx(989.5e12)


@pytest.mark.parametrize("hw_id", ALL_IDS)
def test_no_format_is_more_than_twice_as_fast_as_the_next_wider_one(hw_id):
    """A sparse headline slipped into one format would show up as a 4x jump where hardware doubles at most.

    3% slack: vendors round each printed figure on its own (L40S: BF16 362.05 but FP8 733).
    """
    peaks = load_hardware(hw_id).peak_tflops
    slack = 1.03
    if "bf16" in peaks:
        for narrower in ("fp8", "int8"):
            if narrower in peaks:
                assert peaks[narrower] <= 2 * peaks["bf16"] * slack, (hw_id, narrower)
        if "tf32" in peaks:
            assert peaks["tf32"] <= peaks["bf16"], hw_id
    if "fp4" in peaks:
        assert peaks["fp4"] <= 2 * peaks["fp8"] * slack, hw_id


@pytest.mark.parametrize("hw_id", ALL_IDS)
def test_every_peak_is_a_positive_rate_of_a_known_format(hw_id):
    peaks = load_hardware(hw_id).peak_tflops
    assert peaks, hw_id
    assert set(peaks) <= {"fp32", "tf32", "fp16", "bf16", "fp8", "int8", "fp4"}
    assert all(value > 0 for value in peaks.values())  # a blank datasheet cell is absent, never 0


@pytest.mark.parametrize("hw_id", ["a100-sxm-40gb", "a100-sxm-80gb", "a100-pcie-80gb", "a10g", "v100-sxm-32gb"])
def test_formats_a_device_lacks_are_absent(hw_id):
    spec = load_hardware(hw_id)
    assert "fp8" not in spec.peak_tflops
    assert "fp4" not in spec.peak_tflops
    assert spec.peak_flops_per_s("fp8") is None


def test_volta_has_no_bf16_and_only_blackwell_has_fp4():
    assert "bf16" not in load_hardware("v100-sxm-32gb").peak_tflops
    with_fp4 = {hw_id for hw_id in ALL_IDS if "fp4" in load_hardware(hw_id).peak_tflops}
    assert with_fp4 == {"b200", "gb200"}


def test_fp32_is_the_vector_rate_not_the_tensor_rate():
    assert load_hardware("h100-sxm").peak_tflops["fp32"] == 67
    assert load_hardware("a100-sxm-80gb").peak_tflops["fp32"] == 19.5
    assert load_hardware("mi250x").peak_tflops["fp32"] == 23.95  # vector; matrix FP32 is twice that


# --- interconnect is per direction ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hw_id", "bidirectional_total", "per_direction"),
    [
        ("v100-sxm-32gb", 300, 150),  # NVLink 2
        ("a100-sxm-80gb", 600, 300),  # NVLink 3
        ("h100-sxm", 900, 450),  # NVLink 4
        ("h200-sxm", 900, 450),
        ("b200", 1800, 900),  # NVLink 5
        ("gb200", 1800, 900),
        ("tpu-v5e", 400, 200),  # Google: "bidirectional ICI bandwidth per chip"
        ("tpu-v5p", 1200, 600),
        ("tpu-v6e", 800, 400),
    ],
)
def test_intra_node_bandwidth_is_half_the_bidirectional_figure(hw_id, bidirectional_total, per_direction):
    spec = load_hardware(hw_id)
    assert spec.intra_node_bandwidth_gb_s == per_direction == bidirectional_total / 2
    assert spec.intra_node_bytes_per_s == pytest.approx(per_direction * 1e9)


@pytest.mark.parametrize(
    ("hw_id", "pcie_per_direction"),
    [("l4", 32), ("l40s", 32), ("a10g", 32), ("a100-pcie-80gb", 32), ("h100-pcie", 64), ("h100-nvl", 64)],
)
def test_cards_without_a_node_wide_link_talk_over_pcie_x16_one_way(hw_id, pcie_per_direction):
    spec = load_hardware(hw_id)
    assert spec.intra_node_bandwidth_gb_s == pcie_per_direction
    assert spec.devices_per_node == 8
    assert "PCIe" in spec.notes and "PCIe" in spec.sources["intra_node_bandwidth_gb_s"]


@pytest.mark.parametrize("hw_id", ["mi300x", "mi325x"])
def test_amd_infinity_fabric_stores_the_all_to_all_rate_and_warns_about_pairs(hw_id):
    spec = load_hardware(hw_id)
    assert spec.intra_node_bandwidth_gb_s == 7 * 64  # 7 point-to-point links, 64 GB/s each way
    assert "64 GB/s per direction" in spec.notes  # what a single GPU pair gets


@pytest.mark.parametrize("hw_id", ["h100-sxm", "h200-sxm", "b200", "mi300x", "gaudi3"])
def test_inter_node_bandwidth_of_reference_servers(hw_id):
    expected = {"h100-sxm": 50, "h200-sxm": 50, "b200": 50, "mi300x": 50, "gaudi3": 75}[hw_id]
    spec = load_hardware(hw_id)
    assert spec.inter_node_bandwidth_gb_s == expected
    assert "per direction" in spec.sources["inter_node_bandwidth_gb_s"]


def test_dgx_a100_scale_out_is_one_hdr_200_gbps_port_per_gpu():
    assert load_hardware("a100-sxm-80gb").inter_node_bandwidth_gb_s == 200 / 8


@pytest.mark.parametrize("hw_id", ALL_IDS)
def test_scale_out_is_never_faster_than_scale_up(hw_id):
    spec = load_hardware(hw_id)
    if spec.inter_node_bandwidth_gb_s is not None and spec.intra_node_bandwidth_gb_s is not None:
        assert spec.inter_node_bandwidth_gb_s < spec.intra_node_bandwidth_gb_s


@pytest.mark.parametrize("hw_id", ALL_IDS)
def test_a_multi_device_node_has_an_intra_node_bandwidth(hw_id):
    spec = load_hardware(hw_id)
    if spec.devices_per_node > 1:
        assert spec.intra_node_bandwidth_gb_s is not None


def test_node_sizes():
    assert load_hardware("h100-sxm").devices_per_node == 8
    assert load_hardware("tpu-v5e").devices_per_node == 8  # chips per TPU host
    assert load_hardware("tpu-v5p").devices_per_node == 4
    assert load_hardware("gb200").devices_per_node == 72  # one NVLink domain
    assert load_hardware("apple-m2-ultra").devices_per_node == 1


# --- units and "what a row means" ---------------------------------------------------------------------------------


def test_memory_is_decimal_gb():
    assert load_hardware("tpu-v4").memory_gb == 34.36  # Google: 32 GiB
    assert load_hardware("h100-sxm").memory_bytes == 80e9
    assert load_hardware("h100-sxm").hbm_bytes_per_s == pytest.approx(3.35e12)


def test_mi250x_is_one_gcd_as_software_sees_it():
    spec = load_hardware("mi250x")
    assert spec.memory_gb == 64
    assert spec.hbm_bandwidth_gb_s == pytest.approx(1638.4)
    assert spec.peak_tflops["bf16"] == 191.5
    assert "GCD" in spec.name


def test_b200_is_one_cuda_device_at_the_shipping_memory_size():
    spec = load_hardware("b200")
    assert spec.memory_gb == 180
    assert spec.peak_tflops["bf16"] == 2250


# --- errors a user can act on --------------------------------------------------------------------------------------


def test_a_figure_without_a_source_is_rejected_naming_the_field(tmp_path):
    data = raw("h100-sxm")
    del data["sources"]["tdp_w"]
    with pytest.raises(ValidationError, match="tdp_w"):
        HardwareSpec.model_validate(data)
    with pytest.raises(UserError, match="tdp_w") as excinfo:
        load_hardware(str(write_spec(tmp_path, data)))
    assert "source" in str(excinfo.value)


def test_a_price_without_a_date_is_rejected(tmp_path):
    data = raw("h100-sxm")
    del data["price_date"]
    with pytest.raises(UserError, match="price_date"):
        load_hardware(str(write_spec(tmp_path, data)))


def test_an_unknown_field_is_rejected(tmp_path):
    data = raw("l4")
    data["bf16_tflops"] = 121
    with pytest.raises(UserError, match="bf16_tflops"):
        load_hardware(str(write_spec(tmp_path, data)))


def test_a_zero_peak_is_rejected(tmp_path):
    data = raw("a100-sxm-80gb")
    data["peak_tflops"]["fp8"] = 0
    with pytest.raises(UserError, match="fp8"):
        load_hardware(str(write_spec(tmp_path, data)))


def test_unknown_id_suggests_the_closest(tmp_path):
    with pytest.raises(UserError) as excinfo:
        load_hardware("h100-sxn")
    message = str(excinfo.value)
    assert "h100-sxn" in message
    assert "did you mean 'h100-sxm'" in message


def test_an_id_with_nothing_close_lists_the_catalog():
    with pytest.raises(UserError) as excinfo:
        load_hardware("zz")
    assert "h100-sxm" in str(excinfo.value)


def test_malformed_yaml_is_a_one_line_user_error(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("id: broken\npeak_tflops: {bf16: 1\n  memory_gb: [\n")
    with pytest.raises(UserError) as excinfo:
        load_hardware(str(path))
    message = str(excinfo.value)
    assert "\n" not in message
    assert str(path) in message and "YAML" in message


def test_a_yaml_that_is_not_a_mapping_is_a_user_error(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(UserError, match="mapping"):
        load_hardware(str(path))


def test_a_missing_file_path_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_hardware(str(tmp_path / "nope.yaml"))


# --- a user's own file ---------------------------------------------------------------------------------------------


def test_a_spec_file_path_loads(tmp_path):
    data = raw("h100-sxm")
    data["id"] = "my-h100-capped"
    data["name"] = "H100 SXM capped at 500 W"
    data["tdp_w"] = 500
    data["sources"]["tdp_w"] = "nvidia-smi -pl 500 on our cluster, 2026-02-01"
    spec = load_hardware(str(write_spec(tmp_path, data, "my-h100-capped.yaml")))
    assert spec.id == "my-h100-capped"
    assert spec.tdp_w == 500
    assert spec.peak_tflops["bf16"] == 989.5
