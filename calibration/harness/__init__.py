"""The torch measurement harness behind `idealrt calibrate measure`: op sweeps, end-to-end generation of small
transformers built from model specs, and a measured hardware spec. Needs the `measure` extra (torch)."""
