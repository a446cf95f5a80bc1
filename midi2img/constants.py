"""Every rate, hop, window and label table midi2img uses, in one place.

The way ``basic_pitch/constants.py`` does it: modules import these names instead of writing the
numbers again, so a rate or a label order cannot drift between stages. Nothing heavy is imported
here.
"""

from __future__ import annotations

# ---- audio -----------------------------------------------------------------------------------

#: Sample rate of the analysis pass (Basic Pitch's rate, and GTZAN's).
SAMPLE_RATE_HZ = 22050
#: Hop of the onset envelope used for tempo, and of librosa's default frame grid.
ONSET_HOP = 512
#: Shortest recording that can be analysed (Basic Pitch's window is 2 s; chords need a few beats).
MIN_DURATION_S = 1.0
#: Peak level (full scale = 1.0) below which a recording counts as silent (-60 dBFS).
SILENCE_PEAK = 1e-3
#: Extensions that name MIDI rather than audio.
MIDI_SUFFIXES = (".mid", ".midi")

# ---- Basic Pitch (ICASSP 2022 model; basic_pitch/constants.py) ---------------------------------

#: Hop of Basic Pitch's model frames in samples.
BP_FFT_HOP = 256
#: Samples in one model window (2 s minus one hop).
BP_AUDIO_N_SAMPLES = SAMPLE_RATE_HZ * 2 - BP_FFT_HOP
#: Frames the model windows overlap by.
BP_N_OVERLAP_FRAMES = 30
#: Model frames per second (Basic Pitch rounds 22050 / 256 down).
BP_FRAMES_PER_S = SAMPLE_RATE_HZ // BP_FFT_HOP
#: Streaming transcription: segment length (a multiple of 512 samples, about 30 s) ...
SEGMENT_SAMPLES = 1292 * 512
#: ... and context on each side of a segment (about 1 s).
SEGMENT_PAD_SAMPLES = 43 * 512

#: Basic Pitch's note-decoding defaults, tuned on piano rendered from known MIDI (``make tune``,
#: ``bench/tuning.md``): onset and frame thresholds, shortest note in ms.
ONSET_THRESHOLD = 0.7
FRAME_THRESHOLD = 0.4
MIN_NOTE_LENGTH_MS = 58.0

# ---- musicnn taggers (musicnn/configuration.py; models/musicnn/musicnn.json repeats them) -----

#: Sample rate the taggers were trained at.
MUSICNN_SAMPLE_RATE_HZ = 16000
#: STFT size and hop (samples): 62.5 frames per second.
MUSICNN_N_FFT = 512
MUSICNN_HOP = 256
#: Mel bands.
MUSICNN_N_MELS = 96
#: Frames in one tagger window (about 3 s).
MUSICNN_WINDOW_FRAMES = 187

# ---- pitch and labels --------------------------------------------------------------------------

#: Pitch-class names, index = pitch class (0 = C). Also the spelling of chord roots (Harte) and of
#: key tonics as mir_eval writes them (sharps, except the usual flat keys).
PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
#: Every spelling of a pitch class that a label may use (``A#`` and ``Bb`` alike).
PITCH_CLASS_OF = {"C": 0, "B#": 0, "C#": 1, "Db": 1, "D": 2, "D#": 3, "Eb": 3, "E": 4, "Fb": 4,
                  "F": 5, "E#": 5, "F#": 6, "Gb": 6, "G": 7, "G#": 8, "Ab": 8, "A": 9, "A#": 10,
                  "Bb": 10, "B": 11, "Cb": 11}
#: The ten GTZAN genres, in the order used everywhere (alphabetical, as in the feature table).
GTZAN_GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop",
                "reggae", "rock")
#: Russell quadrants as EMOPIA labels them: (valence sign, arousal sign).
QUADRANT_SIGNS = {"Q1": (1, 1), "Q2": (-1, 1), "Q3": (-1, -1), "Q4": (1, -1)}
#: The split names every dataset uses (mirdata's vocabulary; EMOPIA's ``val`` files map here).
SPLITS = ("train", "valid", "test")

# ---- the analysis contract (docs/CONTRACT.md) --------------------------------------------------

#: The order of the analysis contract's keys as ``keywords --json`` prints them and
#: ``analysis.json`` holds them; a stage's key that is not listed comes after ``tags``, in the
#: order of the stage registry (``midi2img.stages``).
CONTRACT_ORDER = ("source", "input_kind", "duration_s", "tempo_bpm", "tempo_source", "beats",
                  "downbeats", "meter", "tempo_curve", "key", "key_confidence", "key_clarity",
                  "chords", "progression", "notes", "harmony", "genre", "affect", "tags")
#: The keys that follow the stages' keys: what the keyword rules and the templater made of them,
#: and the record of the run.
CONTRACT_TAIL = ("keywords", "prompt", "negative_prompt", "style", "prompt_tokens", "omitted",
                 "content_hash", "versions")
