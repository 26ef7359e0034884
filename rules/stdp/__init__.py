"""Engine-based STDP learners: spiking networks simulated on the engine's backends, with
synaptic plasticity (:mod:`plasticity`) doing the learning, trained sample by sample.

* :mod:`rules.stdp.diehl_cook`: Diehl & Cook (2015), unsupervised digit classification with
  STDP, lateral inhibition and adaptive thresholds;
* :mod:`rules.stdp.sym_stdp`: the symmetric-STDP supervised classifier (Hao, Huang, Dong &
  Xu 2020);
* :mod:`rules.stdp.pattern`: supervised spatial-pattern detection with STDP and homeostasis
  (after Davies et al., a PyNN network for SpiNNaker).

Each exposes ``train_<name>(dataset, data_dir, neurons, epochs, seed, progress, out_dir,
**options)``, which ``synaptica train`` runs (``diehl-cook``, ``sym-stdp``, ``pattern``). The
old paths ``rules.diehl_cook``, ``rules.sym_stdp`` and ``rules.pattern`` are aliases.
"""
