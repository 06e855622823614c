"""Trajectory optimisers (random shooting, CEM, iCEM) and the MPC agent that plans with them."""
