"""Classical codecs and dataset-selection baselines, imported as `bench_baselines`."""
