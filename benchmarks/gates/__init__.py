"""The regression gates CI runs after the tests (scripts/bench_ci.sh): every configuration's sizes
and quality against golden.json (golden.py, test_golden.py), its encode and decode times against the
committed baseline of this kind of machine (test_codec_speed.py, compare.py, baseline.py,
calibration.py, machine.py), and the report's render time (test_report_speed.py). docs/gates.md."""
