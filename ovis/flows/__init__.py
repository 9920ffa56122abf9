"""Normalizing flows: bijectors under their TFP names, FFJORD on zuko, flow posteriors for the VAE."""
from .bijectors import Cubic, GumbelCDF, ScaleMatvecDiag, ScaleMatvecTriL, Softfloor, Trainable
from .ffjord import FFJORD, FFJORDTransform, TimeMLP
from .posterior import FlowDistribution, FlowPosterior, ffjord_posterior, maf_posterior, nsf_posterior

__all__ = ["Softfloor", "GumbelCDF", "ScaleMatvecTriL", "ScaleMatvecDiag", "Cubic", "Trainable",
           "TimeMLP", "FFJORDTransform", "FFJORD",
           "FlowPosterior", "FlowDistribution", "maf_posterior", "nsf_posterior", "ffjord_posterior"]
