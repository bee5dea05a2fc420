"""The tier tuner (Tuner, the ipywidgets TierTuner), sweeps, the demo and the tier recommender
(``saosim.recommend``: :mod:`saosim.tune.recommend`)."""
