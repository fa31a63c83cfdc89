"""The learning toolkit and the judge: seeded training loops and batched inference (`training`), the
one file format of trained models (`model_file`), shipped weights and their cards (`shipped`), the
trained-model cache (`model_cache`), the skeleton of the learned lossy codecs (`latent_codec`), uniform
latent codes with cached tables (`uniform_quantiser`), PCA axes (`principal_axes`), and the downstream
classifier every lossy and dataset row is scored by (`classifier`).

May import: `bench.errors`, `bench.api`, `bench.data`, `bench.coding`. Never the runner or the report.
"""
