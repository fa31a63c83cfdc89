"""The HTML report: tables and figures of a run (`render`) and its Jinja template, inside the package.

May import: every package below it (`api`, `run`: results, artifacts, derived columns, ...).
"""
