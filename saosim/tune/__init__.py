"""The tier tuner (Tuner, the ipywidgets TierTuner), sweeps and the demo."""
