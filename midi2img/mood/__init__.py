"""Mood: valence and arousal, the same skeleton as the genre side (:mod:`midi2img.gtzan`).

* :mod:`.dataset` - EMOPIA and VGMIDI: clips, labels, the split (``train``/``valid``/``test``);
* :mod:`.features` - the model's input, :func:`~midi2img.mood.features.mood_features`;
* :mod:`.model` - :class:`~midi2img.mood.model.MoodModel` (numpy, no pickle) and the
  :class:`~midi2img.mood.model.AffectEstimate` record it gives;
* :mod:`.train` - :class:`~midi2img.mood.train.TrainConfig`, ``train`` and ``evaluate``.
"""
