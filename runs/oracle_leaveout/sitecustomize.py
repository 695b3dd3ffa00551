"""An oracle, never a model to ship: lets this run's stream draw the leave-out camera family.

``hdc.streams`` refuses the ``leaveout`` aperture family for training, so that no shipped
weights ever see the leave-out set's cameras. This run asks how much of the network's loss
on those cameras training on their family would recover (an upper bound for any broader
training family that does not contain them); its weights are not committed and must not be
used to report leave-out results. Loaded through ``PYTHONPATH`` by this folder's COMMAND.sh
only.
"""

from hdc import forward, streams

forward.TRAINING_APERTURES = (*forward.TRAINING_APERTURES, "leaveout")
streams.TRAINING_APERTURES = forward.TRAINING_APERTURES
