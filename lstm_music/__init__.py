"""Keras LSTM music generator: MIDI in, three-stream LSTM, MIDI out (see README.md)."""
