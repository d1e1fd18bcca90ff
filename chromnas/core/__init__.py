"""The JAX-free core: what a trained policy is, on any machine.

NumPy and the standard library only, by construction (`tests/test_layering.py` checks every
import): the policy spec and its architecture names, one record per weight family, footprint
accounting, the noise table, policy bundles and the compact `.chromnas` file, the NumPy forward
pass (`forward`), the episode loop (`episode`), the mailman matvec and the NumPy runtime.  Host
worker processes and deployed policies stop here.
"""
