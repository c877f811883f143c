"""Generators of bad inputs and valid cases for the property suite, and the verdict on one CLI run.

Shared by the hypothesis tests (`tests/test_properties_*.py`) and the counting runner (`tests/fuzz_report.py`).
"""
