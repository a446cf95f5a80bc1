"""Mood: valence and arousal, the same skeleton as the genre side (:mod:`midi2img.gtzan`).

Two models. The symbolic one reads the notes (a ``.mid`` input, EMOPIA + VGMIDI):

* :mod:`.dataset` - EMOPIA and VGMIDI: clips, labels, the split (``train``/``valid``/``test``);
  and emotion4q, the real recordings of the audio model (artist-disjoint ``train``/``test``);
* :mod:`.features` - the model's input, :func:`~midi2img.mood.features.mood_features`;
* :mod:`.model` - :class:`~midi2img.mood.model.MoodModel` (numpy, no pickle) and the
  :class:`~midi2img.mood.model.AffectEstimate` record both models give;
* :mod:`.train` - :class:`~midi2img.mood.train.TrainConfig`, ``train`` and ``evaluate``.

The audio one reads the sound and the musicnn tags of a recording (emotion4q):

* :mod:`.audio_features` - :class:`~midi2img.mood.audio_features.AudioMoodStream` (fed the
  analysis pass's segments, small rows per 2 s) and the model's input,
  :func:`~midi2img.mood.audio_features.affect_features`, for a track or any section of it;
* :mod:`.audio_model` - :class:`~midi2img.mood.audio_model.AudioAffectModel` (numpy, no pickle;
  calibrated confidence);
* :mod:`.train_audio` - :class:`~midi2img.mood.train_audio.AudioTrainConfig`, ``train`` and
  ``evaluate`` (artist-grouped CV, one test scoring).

Both calibrate their quadrant confidence with :mod:`.calibration` (a well-determined Platt map:
smoothed targets and a weak prior toward the identity, so a retraining on another CPU moves it
only as much as its inputs move).
"""
