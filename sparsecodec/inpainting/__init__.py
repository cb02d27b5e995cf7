"""Inpainting: the diffusion solver core (CG and multigrid) and learned decoders."""

from .solve import SOLVERS, Preconditioner, SolveResult, solve

__all__ = ["SOLVERS", "Preconditioner", "SolveResult", "solve"]
