"""Separation-based digital baseline: source coder + 5G LDPC + QAM."""
