"""Speech in and out: segmenting, recognising, pitch and prosody on the sending side; voices, synthesis and reshaping to the sender's timing and pitch on the receiving side."""
