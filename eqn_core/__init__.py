"""EQN Studio core: annotate texts with 0-10 micro-emotion energies (Expansion Quantization Network).

Modules (one concept each): data, labels, metrics, config, models, training, regression, inference,
runs, workspace, export, cli. Import what you need from them, e.g. `from eqn_core.metrics import tune_thresholds`.
"""

__version__ = "0.1.0"
