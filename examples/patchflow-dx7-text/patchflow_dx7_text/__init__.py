"""Read DX7 voices written as plain text: one ``[voice name]`` section per voice, ``parameter = value`` lines."""

from .parser import Dx7TextParser

__all__ = ["Dx7TextParser"]
