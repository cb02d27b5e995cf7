"""Neural networks (torch is imported only by the submodules)."""
