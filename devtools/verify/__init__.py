"""Delivery verification: sequence-numbered traffic, a malformed-input corpus, and a checker."""
