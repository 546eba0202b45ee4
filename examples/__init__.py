"""Builders for ``python -m core own --model examples.<module>:<function>`` and the own-model API."""
