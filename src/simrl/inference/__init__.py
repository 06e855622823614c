"""BayesSim's inference (Ramos, Possas and Fox, RSS 2019), in sbi's staged shape.

prior.py (BoxPrior) -> simulate.py (batched simulations, the collection policy, the "real"
observation) -> summaries.py (BayesSim's statistics, a down-sampled trajectory) ->
posterior.py (MDNPosterior: sbi's mixture density network, trained by training.py, saved by
posterior_io.py) -> diagnostics.py (accuracy, expected coverage, predictive checks);
settings.py holds the frozen settings and the presets' values; estimator.py what posterior.py and
posterior_io.py share (posterior.py calls posterior_io.py, never the reverse).

Nothing here is imported by ``import simrl``; torch and sbi load when a posterior is fitted or read.
"""
