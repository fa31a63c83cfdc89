"""The HTML report: tables and figures of a run (`render`) and its Jinja template, inside the package.

May import: `bench.api`, `bench.run` (results and artifacts).
"""
