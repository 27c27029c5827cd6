"""The EQN method: config, thresholds, label maths, metrics, models, training, label regression, inference."""
