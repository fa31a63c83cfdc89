"""The one compiled part: the context-mixing coder of the weightless codec (everything else is in
pyproject.toml). A C++17 compiler builds it at `pip install`; scripts/setup.sh installs g++ on Debian."""

import sys

from setuptools import Extension, setup

CXX_FLAGS = ["/O2", "/std:c++17"] if sys.platform == "win32" else ["-O3", "-std=c++17", "-ffp-contract=off"]

setup(ext_modules=[Extension("bench_codecs.weightless._context_mixing", ["codecs/weightless/context_mixing.cpp"],
                             extra_compile_args=CXX_FLAGS, language="c++")])
