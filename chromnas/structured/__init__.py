"""Structured weight families: dense, Toeplitz, circulant, masked and chromatic matrices.

Each family is a pure function from its trainable values (and, for masked and chromatic,
its searched structure) to a `(rows, cols)` matrix, plus a matvec on inputs `(..., cols)`.
All functions are `jax.jit`- and `jax.vmap`-safe; shapes are static Python ints.
"""
from chromnas.structured.chromatic_matrix import chromatic
from chromnas.structured.chromatic_matrix import chromatic_matvec
from chromnas.structured.chromatic_matrix import chromatic_matvec_grouped
from chromnas.structured.circulant_matrix import circulant
from chromnas.structured.circulant_matrix import circulant_matvec
from chromnas.structured.dense_matrix import dense
from chromnas.structured.dense_matrix import dense_matvec
from chromnas.structured.masked_matrix import masked
from chromnas.structured.masked_matrix import masked_matvec
from chromnas.structured.toeplitz_matrix import toeplitz
from chromnas.structured.toeplitz_matrix import toeplitz_matvec

FAMILIES = ("unstructured", "toeplitz", "circulant", "masked", "chromatic")

__all__ = [
    "FAMILIES", "chromatic", "chromatic_matvec", "chromatic_matvec_grouped", "circulant",
    "circulant_matvec", "dense", "dense_matvec", "masked", "masked_matvec", "toeplitz",
    "toeplitz_matvec",
]
