"""Model architectures: the spec schema, the shipped catalog and HF `config.json` import."""

from idealrt.simulator.model.spec import MLAConfig, ModelSpec, MoEConfig

__all__ = ["MLAConfig", "MoEConfig", "ModelSpec"]
