"""Curvature by hand where no library does it: the batched MLP R-operator (:mod:`.mlp_rop`),
dense matrices and their spectra (:mod:`.dense`), and the exact constant-input reduction
(:mod:`.reduction`)."""
