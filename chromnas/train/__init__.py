"""Training: the config (defaults and validation), `build(cfg)` (the only code that reads the
config), the loop, checkpoints, metrics and progress output.  The top layer of the library."""
