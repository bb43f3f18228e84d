"""Spec -> torch modules, and the model class every network shares."""
