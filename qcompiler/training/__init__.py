"""Training-time numerics simulations (qcompiler.training.hfp8: HFP8 training)."""
