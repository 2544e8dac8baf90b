"""TABSYN (Zhang et al., 2024, "Mixed-Type Tabular Data Synthesis with Score-based Diffusion
in Latent Space", ICLR): a transformer VAE maps rows to a latent space, a score-based (EDM)
diffusion model learns that space, and rows are sampled with a 50-step deterministic solver.

Modules: ``encoding`` (rows <-> VAE inputs), ``vae`` (Section 3.2), ``diffusion``
(Section 3.3), ``adapter`` (the :class:`TabSyn` synthesizer). Only ``adapter`` is imported
here, and it imports torch inside ``fit``, so listing synthesizers stays instant.
"""

from adapters.tabsyn.adapter import TabSyn

__all__ = ["TabSyn"]
