"""Neural codecs from the write-ups, one module (or folder) per family.

Imported as `bench_codecs` (`codecs` is a standard-library module); the registry imports every
module here, and each registers its codecs with `@bench.register_codec`.
"""
