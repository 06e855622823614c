"""Model-based RL: dynamics ensembles (``models``), trajectory optimisers and MPC (``planning``), MBPO."""
