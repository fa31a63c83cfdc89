"""MNIST: finding, verifying and parsing the four IDX files (`mnist`), the IDX format (`idx`).

May import: `bench.errors` only.
"""
