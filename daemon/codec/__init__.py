"""A message and the payload bytes that carry it: the message model, the text coder and its arithmetic coder, the payload formats and their bounds."""
