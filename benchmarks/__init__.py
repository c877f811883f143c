"""Speed benchmarks (`make bench`); accuracy lives in `idealrt calibrate validate`."""
