"""The web edge: views, the Open Inference Protocol, the operator page."""
