"""Models implementing the :class:`TemplateModel` contract."""
from .template import ModelContractError, TemplateModel, flat_log_prob, validate_model_output

__all__ = ["TemplateModel", "ModelContractError", "flat_log_prob", "validate_model_output"]
