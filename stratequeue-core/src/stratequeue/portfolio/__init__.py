from .manager import Portfolio, Sleeve

__all__ = ["Portfolio", "Sleeve"]
