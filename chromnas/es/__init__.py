"""Evolution Strategies: the gradient estimator, the training state with its pure ask/tell
step shared by every engine, perturbation offsets into the noise table, and the observation
normaliser.  Imports `chromnas.core` and `chromnas.model` only."""
